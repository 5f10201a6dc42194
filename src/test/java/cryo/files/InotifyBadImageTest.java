package cryo.files;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * Images of the inotify fixture that do not hold together — re-encoded with cryo's own image classes, so the
 * stream itself is valid — and a watched directory replaced since the checkpoint: each restart fails with one
 * line naming the record or the file, and leaves no process behind. The unchanged re-encoded image restarts,
 * so the failures come from the changes.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class InotifyBadImageTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    private static InotifyWatchRecord watch(List<ImageRecord> rs, int wd) {
        for (ImageRecord r : rs) if (r instanceof InotifyWatchRecord w && w.wd() == wd) return w;
        throw new AssertionError("no INOTIFY_WATCH with wd " + wd);
    }

    /** The records with watch wd changed. */
    private static UnaryOperator<List<ImageRecord>> changeWatch(int wd, UnaryOperator<InotifyWatchRecord> change) {
        return rs -> {
            InotifyWatchRecord old = watch(rs, wd);
            List<ImageRecord> out = new ArrayList<>();
            for (ImageRecord r : rs) out.add(r == old ? change.apply(old) : r);
            return out;
        };
    }

    @Test
    void badWatchesAndAReplacedDirectoryFailTheRestartWithOneLine() throws IOException {
        Path dir = InotifyTest.mkdir(tmp.resolve("d"));
        Proc p = InotifyTest.start(cleanup, tmp, dir);
        Path good = InotifyTest.checkpointAndAwaitGone(cleanup, p, tmp.resolve("good.img"));
        List<Long> pids = List.of(p.pid());
        int instanceA = TreeFixtures.withRecords(good, rs -> watch(rs, 1).inotify());
        int fileOfWd1 = TreeFixtures.withRecords(good, rs -> watch(rs, 1).file());
        int pathFile = TreeFixtures.withRecords(good, rs -> {
            for (ImageRecord r : rs) if (r instanceof FileRecord f && f.path().equals(dir.resolve("b").toString())) return f.objref();
            throw new AssertionError("no FILE record of " + dir.resolve("b"));
        });

        record Variant(UnaryOperator<List<ImageRecord>> change, List<String> hints) {}
        Map<String, Variant> variants = new LinkedHashMap<>();
        variants.put("a watch naming no inotify description", new Variant(
                changeWatch(3, w -> TreeFixtures.with(w, "inotify", 99999)), List.of("INOTIFY_WATCH", "99999")));
        variants.put("a watch naming a FILE as its instance", new Variant(
                changeWatch(3, w -> TreeFixtures.with(w, "inotify", pathFile)), List.of("INOTIFY_WATCH", "inotify", pathFile + "")));
        variants.put("two watches with one wd", new Variant(
                changeWatch(3, w -> TreeFixtures.with(w, "wd", 1)), List.of("INOTIFY_WATCH", "wd 1")));
        variants.put("two watches on one file", new Variant(
                changeWatch(3, w -> TreeFixtures.with(w, "file", fileOfWd1)), List.of("INOTIFY_WATCH", "FILE " + fileOfWd1, "twice")));
        variants.put("a watch naming no FILE", new Variant(
                changeWatch(5, w -> TreeFixtures.with(w, "file", 99998)), List.of("INOTIFY_WATCH", "99998")));
        variants.put("a mask with IN_IGNORED", new Variant(
                changeWatch(1, w -> TreeFixtures.with(w, "mask", w.mask() | 0x8000)), List.of("INOTIFY_WATCH", "mask")));
        variants.put("a mask with no event", new Variant(
                changeWatch(1, w -> TreeFixtures.with(w, "mask", 0x80000000)), List.of("INOTIFY_WATCH", "mask")));
        variants.put("a wd of 0", new Variant(
                changeWatch(1, w -> TreeFixtures.with(w, "wd", 0)), List.of("INOTIFY_WATCH", "wd")));
        variants.put("a file handle of 3 bytes", new Variant(
                changeWatch(1, w -> TreeFixtures.with(w, "handle", new byte[3])), List.of("INOTIFY_WATCH", "handle")));
        variants.put("a file handle of another generation", new Variant(
                changeWatch(5, w -> {
                    byte[] h = w.handle().clone();
                    h[h.length - 1] ^= 0x5a;
                    return TreeFixtures.with(w, "handle", h);
                }), List.of(dir.resolve("c").toString(), "Stale file handle")));
        variants.put("an inotify description opened read-write", new Variant(rs -> {
            List<ImageRecord> out = new ArrayList<>();
            for (ImageRecord r : rs) out.add(r instanceof OpenFileRecord o && o.objref() == instanceA ? TreeFixtures.with(o, "flags", 2) : r);
            return out;
        }, List.of("OPEN_FILE", "flags")));

        subreaper.off(); // from here on, an orphan left by a failed restart must show up as a leftover
        List<Executable> checks = new ArrayList<>();
        int i = 0;
        for (var v : variants.entrySet()) {
            Path bad = tmp.resolve("bad-" + (i++) + ".img");
            TreeFixtures.rewrite(good, bad, v.getValue().change());
            checks.add(() -> expectOneLine(bad, pids, v.getKey(), v.getValue().hints()));
        }
        assertAll(checks);

        // the watched directory b replaced by another of the same name
        Path moved = tmp.resolve("b-moved");
        Files.move(dir.resolve("b"), moved);
        Files.createDirectory(dir.resolve("b"));
        expectOneLine(good, pids, "a watched directory replaced since the checkpoint", List.of(dir.resolve("b").toString()));
        Files.delete(dir.resolve("b"));
        Files.move(moved, dir.resolve("b"));

        // the unchanged image, re-encoded the same way, restarts: the failures come from the changes
        subreaper.on();
        Path same = tmp.resolve("same.img");
        TreeFixtures.rewrite(good, same, rs -> rs);
        TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(60));
        Proc r = PipeFixtureTest.startRestart(cleanup, subreaper, same, pids);
        PipeFixtureTest.awaitReleased(r, pids);
        InotifyTest.ok(r, "check", "after restart of the re-encoded good image");
        InotifyTest.quit(r);
    }

    private void expectOneLine(Path image, List<Long> pids, String what, List<String> hints) {
        TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(60));
        Leftovers before = Leftovers.snapshot();
        String line;
        try {
            line = Cryo.restartExpectingFailure(cleanup, image, pids.getFirst()).assertOneLineError();
        } catch (AssertionError e) {
            throw new AssertionError("restart of an image with " + what + ": " + e.getMessage(), e);
        }
        System.out.println("[InotifyBadImageTest] " + what + ": " + line);
        for (long p : pids) assertFalse(Procfs.exists(p), "restart of an image with " + what + " left pid " + p);
        before.assertNone(cleanup, "restart of an image with " + what);
        for (String h : hints) assertTrue(line.contains(h), "the error for " + what + " mentions '" + h + "': " + line);
    }
}
