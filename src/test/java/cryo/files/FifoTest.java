package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * FIFOs (named pipes) between two processes of the tree (the pipe fixture's fifo:PATH: the parent reads,
 * a child writes, 3000 bytes buffered): saved with their buffer once, reopened by path with each holder's
 * access mode and the bytes back in them; a FIFO whose path is gone fails the restart with one line naming
 * it, and nothing is left; a FIFO whose other end is held outside the tree at fd > 2 is refused.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class FifoTest {
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

    private long ino(Path p) throws IOException {
        return (Long) Files.getAttribute(p, "unix:ino");
    }

    @Test
    void aFifoBetweenTwoProcessesKeepsItsData() throws IOException {
        Path fifo = tmp.resolve("named.fifo");
        Os.mkfifo(fifo);
        PipeFixtureTest.Started s = PipeFixtureTest.start(cleanup, subreaper, tmp, List.of("fifo:" + fifo));
        long child = s.child("fifo");
        int b = s.base("fifo");
        Path image = tmp.resolve("fifo.img");
        List<Long> pids = PipeFixtureTest.checkpointAndAwaitGone(cleanup, s, image);

        // one FILE for the path, one PIPE for the buffer, a FIFO description for each end
        String fileRef = null;
        for (Map<String, String> f : PipeFixtureTest.showRecords(cleanup, image, "FILE"))
            if (fifo.toString().equals(f.get("path"))) {
                assertTrue(fileRef == null, "one FILE record for " + fifo);
                fileRef = f.get("objref");
                assertEquals("010600", f.get("mode"), "the FILE record of a FIFO: " + f);
                assertEquals(Long.toString(ino(fifo)), f.get("ino"), "the FIFO's inode: " + f);
            }
        assertTrue(fileRef != null, "cryo show has a FILE record for " + fifo);
        List<PipeFixtureTest.PipeLine> pipes = PipeFixtureTest.showPipes(cleanup, image);
        assertEquals(1, pipes.size(), "one PIPE record (the FIFO's buffer): " + pipes);
        PipeFixtureTest.PipeLine p = pipes.getFirst();
        assertEquals(3000, p.buffered(), "the FIFO's buffered bytes: " + p);
        assertEquals(65536, p.capacity(), "the FIFO's capacity: " + p);
        assertEquals(List.of(s.pid() + ":" + b, child + ":" + (b + 1)), p.holders().stream().sorted().toList(),
                "the FIFO's holders: " + p);
        List<String> kinds = new ArrayList<>();
        for (Map<String, String> f : PipeFixtureTest.showRecords(cleanup, image, "OPEN_FILE"))
            if (fileRef.equals(f.get("file"))) {
                kinds.add(f.get("kind"));
                assertEquals(Integer.toString(p.objref()), f.get("pipe"), "the FIFO description names the PIPE: " + f);
            }
        assertEquals(List.of("FIFO", "FIFO"), kinds, "two FIFO descriptions (reader, writer)");

        Proc r = PipeFixtureTest.restart(cleanup, subreaper, image, pids);
        PipeFixtureTest.verifyOk(r, "after restart", s.names());
        PipeFixtureTest.quit(r);
        assertEquals(0, r.awaitExit(Timeouts.EXIT));
        assertTrue(Files.exists(fifo), "the FIFO is still there");
        assertEquals(List.of("fifo.img", "named.fifo", "pipes"), Cryo.list(tmp), "nothing else was made in the directory");
    }

    @Test
    void aFifoWhosePathIsGoneFailsTheRestart() throws IOException {
        Path fifo = tmp.resolve("gone.fifo");
        Os.mkfifo(fifo);
        PipeFixtureTest.Started s = PipeFixtureTest.start(cleanup, subreaper, tmp, List.of("fifo:" + fifo));
        Path image = tmp.resolve("gone.img");
        List<Long> pids = PipeFixtureTest.checkpointAndAwaitGone(cleanup, s, image);
        Files.delete(fifo);

        subreaper.off(); // an orphan left by a failed restart must show up as a leftover
        Leftovers before = Leftovers.snapshot();
        String line = Cryo.restartExpectingFailure(cleanup, image, pids.getFirst()).assertOneLineError();
        System.out.println("[FifoTest] path gone: " + line);
        assertTrue(line.contains(fifo.toString()), "the error names the FIFO's path " + fifo + ": " + line);
        for (long p : pids) assertFalse(Procfs.exists(p), "a failed restart left pid " + p);
        before.assertNone(cleanup, "a restart that failed on a missing FIFO");
        assertFalse(Files.exists(fifo), "cryo does not make the missing FIFO: " + fifo);
        assertEquals(List.of("gone.img", "pipes"), Cryo.list(tmp), "nothing was made in the directory");
    }

    @Test
    void aFifoWhoseOtherEndIsHeldOutsideTheTreeIsRefused() throws IOException {
        Path fifo = tmp.resolve("leak.fifo");
        Os.mkfifo(fifo);
        PipeFixtureTest.Started s = PipeFixtureTest.start(cleanup, subreaper, tmp, List.of("fifo:" + fifo));
        long child = s.child("fifo");
        int b = s.base("fifo");
        Path image = tmp.resolve("leak.img");
        // only the writer: the reader (its parent, fd b) is outside the tree
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(child), "-o", image.toString()).assertOneLineError();
        System.out.println("[FifoTest] refused: " + line);
        assertTrue(line.matches(".*\\btask " + child + "\\b.*"), "the refusal names the task " + child + ": " + line);
        assertTrue(line.matches(".*\\bfd " + (b + 1) + "\\b.*"), "the refusal names fd " + (b + 1) + ": " + line);
        assertTrue(line.contains(fifo.toString()), "the refusal names the FIFO " + fifo + ": " + line);
        assertTrue(line.matches(".*\\b" + s.pid() + "\\b.*") && line.matches(".*\\bfd " + b + "\\b.*"),
                "the refusal names the outside holder (pid " + s.pid() + " fd " + b + "): " + line);
        assertFalse(Files.exists(image), "no image after a refused checkpoint");
        Procfs.assertRunningUntraced(child, "the writer after a refused checkpoint");
        PipeFixtureTest.verifyOk(s.proc(), "after the refused checkpoint", s.names());
        PipeFixtureTest.quit(s.proc());
    }
}
