package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Procfs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Images with bad ghost files, re-encoded from a good one (the sparse fixture: one GHOST, three GHOST_DATA):
 * each is refused with one line, and no recreated file, name or process remains.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class GhostBadImageTest {
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

    @Test
    void badGhostFilesAreRefusedLeavingNothingBehind() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("work"));
        GhostFileTest.Started s = GhostFileTest.start(cleanup, subreaper, tmp, "sparse", dir);
        long pid = s.pids().getFirst();
        Path good = tmp.resolve("good.img");
        GhostFileTest.checkpoint(cleanup, s, good);

        record Variant(String what, UnaryOperator<List<ImageRecord>> change, String hint) {}
        List<Variant> variants = List.of(
                new Variant("ghost data shorter than recorded", rs -> {
                    List<ImageRecord> l = new ArrayList<>(rs);
                    l.remove(dataIndex(l, 2));
                    return l;
                }, "data_bytes"),
                new Variant("extents out of order", rs -> {
                    List<ImageRecord> l = new ArrayList<>(rs);
                    int a = dataIndex(l, 1), b = dataIndex(l, 2);
                    ImageRecord x = l.get(a);
                    l.set(a, l.get(b));
                    l.set(b, x);
                    return l;
                }, "precedes"),
                new Variant("overlapping extents", rs -> rs.stream().map(r -> r instanceof GhostDataRecord d && d.offset() == 1L << 29
                        ? (ImageRecord) TreeFixtures.with(d, "offset", 100L) : r).toList(), "overlaps"),
                new Variant("an extent beyond the size", ghost(Map.of("size", 600L << 20)), "run past the end"),
                new Variant("a directory that cannot be written", ghost(Map.of("path", "/proc/ghost-sparse")), "cannot recreate it in /proc"),
                new Variant("a directory that is gone", ghost(Map.of("path", dir.resolve("gone/ghost-sparse").toString())), "--ghost-dir"),
                new Variant("a failure after the ghost was recreated", rs -> rs.stream().map(r -> r instanceof OpenFileRecord o
                        && o.kind() == OpenFileRecord.Kind.GHOST ? (ImageRecord) TreeFixtures.with(o, "pos", Long.MAX_VALUE) : r).toList(), "lseek"));
        int i = 0;
        for (Variant v : variants) {
            Path bad = tmp.resolve("bad-" + (i++) + ".img");
            TreeFixtures.rewrite(good, bad, v.change());
            String line = Cryo.restartExpectingFailure(cleanup, bad, pid).assertOneLineError();
            System.out.println("[GhostBadImageTest] " + v.what() + ": " + line);
            assertTrue(line.contains(v.hint()), v.what() + ": the error says " + v.hint() + ": " + line);
            assertFalse(Procfs.exists(pid), v.what() + ": restart left pid " + pid);
            assertEquals(List.of(), Cryo.list(dir), v.what() + ": nothing left in " + dir);
            assertFalse(Files.exists(Path.of("/proc/ghost-sparse")));
        }
    }

    /** The index of the n-th GHOST_DATA record. */
    private static int dataIndex(List<ImageRecord> l, int n) {
        for (int i = 0; i < l.size(); i++) if (l.get(i) instanceof GhostDataRecord && n-- == 0) return i;
        throw new AssertionError("no GHOST_DATA #" + n);
    }

    private static UnaryOperator<List<ImageRecord>> ghost(Map<String, Object> changes) {
        return rs -> rs.stream().map(r -> r instanceof GhostRecord g ? (ImageRecord) TreeFixtures.with(g, changes) : r).toList();
    }
}
