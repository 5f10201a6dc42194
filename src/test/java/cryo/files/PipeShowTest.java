package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * `cryo show` lists each pipe once (PIPE objref=N inode=I capacity=C buffered=B holders=[pid:fd,...]) and
 * `--json` says the same; the OPEN_FILE records of the ends name it, with the right kind per end. Checked on
 * every pipe shape of the fixture against what /proc said before the checkpoint; then the image restarts.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class PipeShowTest {
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

    /** What a scenario's pipe must look like in the image. */
    record Want(long inode, int capacity, int buffered, Set<String> holders, Set<String> readers) {}

    @Test
    void showListsEveryPipeWithItsHoldersAndBufferedBytes() throws IOException {
        List<String> scenarios = PipeFixtureTest.allScenarios(tmp);
        PipeFixtureTest.Started s = PipeFixtureTest.start(cleanup, subreaper, tmp, scenarios);
        long root = s.pid();
        Map<String, Want> want = new LinkedHashMap<>();
        for (String name : s.names()) {
            int b = s.base(name);
            long c = s.child(name);
            String r = root + ":", k = c + ":";
            want.put(name, switch (name) {
                case "full" -> new Want(PipeFixtureTest.pipeInode(root, b), 65536, 65536, Set.of(r + b, k + (b + 1)), Set.of(r + b));
                case "big" -> new Want(PipeFixtureTest.pipeInode(root, b), 1 << 20, 700000, Set.of(r + b, r + (b + 1)), Set.of(r + b));
                case "empty" -> new Want(PipeFixtureTest.pipeInode(root, b + 1), 65536, 0, Set.of(k + b, r + (b + 1)), Set.of(k + b));
                case "noreader" -> new Want(PipeFixtureTest.pipeInode(root, b + 1), 65536, 0, Set.of(r + (b + 1)), Set.of());
                case "eof" -> new Want(PipeFixtureTest.pipeInode(root, b), 65536, 5000, Set.of(r + b), Set.of(r + b));
                case "dup" -> new Want(PipeFixtureTest.pipeInode(root, b), 65536, 3000,
                        Set.of(r + b, r + (b + 1), r + (b + 2), k + b, k + (b + 1), k + (b + 2)),
                        Set.of(r + b, r + (b + 2), k + b, k + (b + 2)));
                case "nonblock" -> new Want(PipeFixtureTest.pipeInode(root, b), 65536, 100, Set.of(r + b, r + (b + 1)), Set.of(r + b));
                case "fifo" -> new Want((Long) Files.getAttribute(tmp.resolve("fifo"), "unix:ino"), 65536, 3000,
                        Set.of(r + b, k + (b + 1)), Set.of(r + b));
                default -> throw new AssertionError(name);
            });
        }
        Path image = tmp.resolve("show.img");
        List<Long> pids = PipeFixtureTest.checkpointAndAwaitGone(cleanup, s, image);

        // text
        List<PipeFixtureTest.PipeLine> pipes = PipeFixtureTest.showPipes(cleanup, image);
        System.out.println("[PipeShowTest] " + String.join("\n[PipeShowTest] ", pipes.stream().map(Object::toString).toList()));
        assertEquals(want.size(), pipes.size(), "one PIPE line per pipe or FIFO of the tree (the JVM's pipes at fds 0-2 are "
                + "inherited, not saved): " + pipes);
        Map<Long, PipeFixtureTest.PipeLine> byInode = new HashMap<>();
        for (PipeFixtureTest.PipeLine p : pipes) assertTrue(byInode.put(p.inode(), p) == null, "inode " + p.inode() + " twice: " + pipes);
        for (var e : want.entrySet()) {
            Want w = e.getValue();
            PipeFixtureTest.PipeLine p = byInode.get(w.inode());
            assertTrue(p != null, e.getKey() + ": no PIPE line with inode=" + w.inode() + ": " + pipes);
            assertEquals(w.capacity(), p.capacity(), e.getKey() + ": capacity of " + p);
            assertEquals(w.buffered(), p.buffered(), e.getKey() + ": buffered bytes of " + p);
            assertEquals(new TreeSet<>(w.holders()), new TreeSet<>(p.holders()), e.getKey() + ": holders of " + p);
            assertEquals(p.holders().size(), new HashSet<>(p.holders()).size(), e.getKey() + ": a holder listed twice: " + p);
        }

        // the ends: FD -> OPEN_FILE (kind) -> PIPE
        Map<String, Map<String, String>> openFiles = new HashMap<>();
        for (Map<String, String> o : PipeFixtureTest.showRecords(cleanup, image, "OPEN_FILE")) openFiles.put(o.get("objref"), o);
        Map<String, Map<String, String>> fdOf = new HashMap<>();
        for (Map<String, String> f : PipeFixtureTest.showRecords(cleanup, image, "FD")) fdOf.put(f.get("pid") + ":" + f.get("fd"), f);
        for (var e : want.entrySet()) {
            PipeFixtureTest.PipeLine p = byInode.get(e.getValue().inode());
            Set<String> descriptions = new HashSet<>();
            for (String h : e.getValue().holders()) {
                Map<String, String> fd = fdOf.get(h);
                assertTrue(fd != null, e.getKey() + ": no FD record for " + h);
                Map<String, String> o = openFiles.get(fd.get("open_file"));
                assertTrue(o != null, e.getKey() + ": FD " + h + " names OPEN_FILE " + fd.get("open_file") + ", which show does not list");
                assertEquals(Integer.toString(p.objref()), o.get("pipe"), e.getKey() + ": " + h + "'s description names its PIPE: " + o);
                boolean reader = e.getValue().readers().contains(h);
                String kind = e.getKey().equals("fifo") ? "FIFO" : reader ? "PIPE_READ" : "PIPE_WRITE";
                assertEquals(kind, o.get("kind"), e.getKey() + ": kind of " + h + "'s description: " + o);
                descriptions.add(fd.get("open_file") + (reader ? "r" : "w"));
            }
            // one description per end (and per open of a FIFO): dup'ed and inherited fds share it
            int ends = (int) e.getValue().holders().stream().map(h -> e.getValue().readers().contains(h) ? "r" : "w").distinct().count();
            assertEquals(ends, descriptions.size(), e.getKey() + ": descriptions " + descriptions + " for the holders " + e.getValue().holders());
        }

        // JSON says the same
        List<Object> json = PipeFixtureTest.showJson(cleanup, image);
        List<PipeFixtureTest.PipeLine> fromJson = new ArrayList<>();
        for (Object o : json) {
            Map<?, ?> m = (Map<?, ?>) o;
            if (!"PIPE".equals(m.get("type"))) continue;
            List<String> holders = new ArrayList<>();
            for (Object h : (List<?>) m.get("holders")) holders.add((String) h);
            fromJson.add(new PipeFixtureTest.PipeLine(((Number) m.get("objref")).intValue(), ((Number) m.get("inode")).longValue(),
                    ((Number) m.get("capacity")).intValue(), ((Number) m.get("buffered")).intValue(), holders));
        }
        assertEquals(pipes, fromJson, "cryo show --json lists the same pipes as cryo show");

        Proc r = PipeFixtureTest.restart(cleanup, subreaper, image, pids);
        PipeFixtureTest.verifyOk(r, "after restart", s.names());
        PipeFixtureTest.quit(r);
        assertEquals(0, r.awaitExit(Timeouts.EXIT));
    }
}
