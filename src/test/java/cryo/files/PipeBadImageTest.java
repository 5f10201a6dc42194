package cryo.files;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
import cryo.testing.Timeouts;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
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
 * Images whose pipes do not hold together — re-encoded with cryo's own image classes from a good image of the
 * pipe fixture (a full pipe with a blocked writer, a 1 MiB pipe, a pipe with EOF pending), so the stream itself
 * (lengths, CRC32C) is valid — are rejected with one error line before anything is created: a PIPE whose data
 * is longer than its capacity, a capacity that is no power of two, an OPEN_FILE naming a pipe objref no PIPE
 * record defines (or a missing PIPE record, or one that comes after the description naming it), a pipe end
 * description without a pipe, two PIPE records with one objref. The unmodified re-encoded image restarts, so
 * the failures come from the changes.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class PipeBadImageTest {
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

    static List<PipeRecord> pipes(List<ImageRecord> rs) {
        return rs.stream().filter(r -> r instanceof PipeRecord).map(r -> (PipeRecord) r).toList();
    }

    /** The PIPE record whose data is this long. */
    static PipeRecord pipeWith(List<ImageRecord> rs, int buffered) {
        for (PipeRecord p : pipes(rs)) if (p.data().length == buffered) return p;
        throw new AssertionError("no PIPE record with " + buffered + " bytes: " + pipes(rs));
    }

    /** Replaces one record (by identity) with another. */
    static UnaryOperator<List<ImageRecord>> replace(java.util.function.Function<List<ImageRecord>, ImageRecord> pick,
            UnaryOperator<ImageRecord> change) {
        return rs -> {
            ImageRecord old = pick.apply(rs);
            List<ImageRecord> out = new ArrayList<>();
            for (ImageRecord r : rs) out.add(r == old ? change.apply(r) : r);
            return out;
        };
    }

    /** The first OPEN_FILE that is an end of the pipe holding `buffered` bytes, with the given kind. */
    static OpenFileRecord endOf(List<ImageRecord> rs, int buffered, OpenFileRecord.Kind kind) {
        int ref = pipeWith(rs, buffered).objref();
        for (ImageRecord r : rs)
            if (r instanceof OpenFileRecord o && o.pipe() == ref && o.kind() == kind) return o;
        throw new AssertionError("no " + kind + " OPEN_FILE for the pipe with " + buffered + " bytes");
    }

    static int unusedObjref(List<ImageRecord> rs) {
        int max = 0;
        for (ImageRecord r : rs) {
            if (r instanceof PipeRecord p) max = Math.max(max, p.objref());
            if (r instanceof OpenFileRecord o) max = Math.max(max, o.objref());
            if (r instanceof FileRecord f) max = Math.max(max, f.objref());
        }
        return max + 1000;
    }

    @Test
    void badPipeRecordsAreRejectedBeforeAnythingIsCreated() {
        PipeFixtureTest.Started s = PipeFixtureTest.start(cleanup, subreaper, tmp, List.of("full", "big", "eof"));
        Path good = tmp.resolve("good.img");
        List<Long> pids = PipeFixtureTest.checkpointAndAwaitGone(cleanup, s, good);
        List<ImageRecord> records = TreeFixtures.withRecords(good, ArrayList::new);
        int eofRef = pipeWith(records, 5000).objref();
        int bigRef = pipeWith(records, 700000).objref();
        int unknown = unusedObjref(records);
        int eofReader = endOf(records, 5000, OpenFileRecord.Kind.PIPE_READ).objref();

        record Variant(UnaryOperator<List<ImageRecord>> change, List<String> hints) {}
        Map<String, Variant> variants = new LinkedHashMap<>();
        variants.put("a PIPE whose data is one byte longer than its capacity", new Variant(
                replace(rs -> pipeWith(rs, 65536), r -> TreeFixtures.with((PipeRecord) r, "data", Arrays.copyOf(((PipeRecord) r).data(), 65537))),
                List.of("PIPE", "65537")));
        variants.put("a PIPE whose capacity is below its data", new Variant(
                replace(rs -> pipeWith(rs, 700000), r -> TreeFixtures.with((PipeRecord) r, "capacity", 1 << 19)),
                List.of("PIPE", "700000")));
        variants.put("a PIPE whose capacity is no power of two", new Variant(
                replace(rs -> pipeWith(rs, 5000), r -> TreeFixtures.with((PipeRecord) r, "capacity", 100000)),
                List.of("PIPE", "100000")));
        variants.put("an OPEN_FILE naming a pipe objref no PIPE record defines", new Variant(
                replace(rs -> endOf(rs, 5000, OpenFileRecord.Kind.PIPE_READ), r -> TreeFixtures.with((OpenFileRecord) r, "pipe", unknown)),
                List.of(unknown + "")));
        variants.put("a missing PIPE record", new Variant(
                rs -> rs.stream().filter(r -> !(r instanceof PipeRecord p && p.objref() == eofRef)).toList(),
                List.of(eofRef + "")));
        variants.put("a PIPE record after the description that names it", new Variant(rs -> {
            List<ImageRecord> out = new ArrayList<>(rs.stream().filter(r -> !(r instanceof PipeRecord p && p.objref() == bigRef)).toList());
            out.add(rs.stream().filter(r -> r instanceof PipeRecord p && p.objref() == bigRef).findFirst().orElseThrow());
            return out;
        }, List.of(bigRef + "")));
        variants.put("a PIPE_READ description without a pipe", new Variant(
                replace(rs -> endOf(rs, 5000, OpenFileRecord.Kind.PIPE_READ), r -> TreeFixtures.with((OpenFileRecord) r, "pipe", 0)),
                List.of("pipe")));
        variants.put("two PIPE records with one objref", new Variant(rs -> {
            List<ImageRecord> out = new ArrayList<>();
            for (ImageRecord r : rs) {
                out.add(r);
                if (r instanceof PipeRecord p && p.objref() == eofRef) out.add(TreeFixtures.with(p, "inode", p.inode() + 1));
            }
            return out;
        }, List.of(eofRef + "")));
        variants.put("a pipe end naming an objref that is an OPEN_FILE, not a PIPE", new Variant(
                replace(rs -> endOf(rs, 700000, OpenFileRecord.Kind.PIPE_WRITE), r -> TreeFixtures.with((OpenFileRecord) r, "pipe", eofReader)),
                List.of(eofReader + "")));

        subreaper.off(); // from here on, an orphan left by a failed restart must show up as a leftover
        List<Executable> checks = new ArrayList<>();
        int i = 0;
        for (var v : variants.entrySet()) {
            Path bad = tmp.resolve("bad-" + (i++) + ".img");
            TreeFixtures.rewrite(good, bad, v.getValue().change());
            checks.add(() -> {
                TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(60));
                Leftovers before = Leftovers.snapshot();
                String line;
                try {
                    line = Cryo.restartExpectingFailure(cleanup, bad, pids.getFirst()).assertOneLineError();
                } catch (AssertionError e) {
                    throw new AssertionError("restart of an image with " + v.getKey() + ": " + e.getMessage(), e);
                }
                System.out.println("[PipeBadImageTest] " + v.getKey() + ": " + line);
                for (long p : pids) assertFalse(Procfs.exists(p), "restart of an image with " + v.getKey() + " left pid " + p);
                before.assertNone(cleanup, "restart of an image with " + v.getKey());
                for (String h : v.getValue().hints())
                    assertTrue(line.contains(h), "the error for " + v.getKey() + " mentions '" + h + "': " + line);
            });
        }
        assertAll(checks);

        // the unchanged image, re-encoded the same way, restarts: the failures come from the changes
        subreaper.on();
        Path same = tmp.resolve("same.img");
        TreeFixtures.rewrite(good, same, rs -> rs);
        TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(60));
        Proc r = PipeFixtureTest.restart(cleanup, subreaper, same, pids);
        PipeFixtureTest.verifyOk(r, "the re-encoded good image", s.names());
        PipeFixtureTest.quit(r);
        assertEquals(0, r.awaitExit(Timeouts.EXIT));
    }
}
