package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
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
 * A pipe one end of which a process outside the checkpointed tree holds (the pipe fixture's outside:N: a
 * child reads lines from the pipe at fd N, its parent writes them; only the child is checkpointed). At fd 5
 * the checkpoint is refused with one line naming the task, the fd, the pipe and the outside holder, and
 * nothing changes; at fd 0 it is accepted, and after restart the child reads cryo restart's stdin and writes
 * to cryo restart's stdout.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class PipeOutsideTreeTest {
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
    void aPipeHeldOutsideTheTreeAtFd5IsRefused() {
        PipeFixtureTest.Started s = PipeFixtureTest.start(cleanup, subreaper, tmp, List.of("outside:5"));
        long child = s.child("outside");
        int writeFd = s.base("outside") + 1;
        long inode = PipeFixtureTest.pipeInode(child, 5);
        assertEquals(inode, PipeFixtureTest.pipeInode(s.pid(), writeFd), "the parent holds the other end");

        Path image = tmp.resolve("outside5.img");
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(child), "-o", image.toString()).assertOneLineError();
        System.out.println("[PipeOutsideTreeTest] refused: " + line);
        assertTrue(line.contains("pipe:[" + inode + "]"), "the refusal names the pipe pipe:[" + inode + "]: " + line);
        assertTrue(line.matches(".*\\btask " + child + "\\b.*"), "the refusal names the task in the tree (" + child + "): " + line);
        assertTrue(line.matches(".*\\bfd 5\\b.*"), "the refusal names fd 5: " + line);
        assertTrue(line.matches(".*\\b" + s.pid() + "\\b.*"), "the refusal names the outside holder, pid " + s.pid() + ": " + line);
        assertTrue(line.matches(".*\\bfd " + writeFd + "\\b.*"), "the refusal names the outside holder's fd " + writeFd + ": " + line);
        assertFalse(Files.exists(image), "no image after a refused checkpoint");
        assertFalse(Cryo.list(tmp).stream().anyMatch(n -> n.startsWith("outside5")), "no temporary image left: " + Cryo.list(tmp));
        Procfs.assertRunningUntraced(child, "the child after a refused checkpoint");
        Procfs.assertRunningUntraced(s.pid(), "the parent after a refused checkpoint");

        // the pipe still works, nothing was read from it
        s.proc().send("send after the refusal");
        assertEquals("GOT after the refusal", s.proc().await("GOT", l -> l.startsWith("GOT ")),
                "the child still reads what the parent writes into the pipe");
        PipeFixtureTest.quit(s.proc());
    }

    @Test
    void aPipeHeldOutsideTheTreeAtFd0IsConnectedToCryoRestartsStdin() {
        PipeFixtureTest.Started s = PipeFixtureTest.start(cleanup, subreaper, tmp, List.of("outside:0"));
        long child = s.child("outside");
        long inode = PipeFixtureTest.pipeInode(child, 0);
        assertEquals(inode, PipeFixtureTest.pipeInode(s.pid(), s.base("outside") + 1), "the parent holds the other end");
        s.proc().send("send before");
        s.proc().await("GOT before", l -> l.startsWith("GOT "));

        Path image = tmp.resolve("outside0.img");
        Cryo.checkpoint(cleanup, child, image);
        assertEquals(List.of(child), PipeFixtureTest.imagePids(cleanup, image), "only the child is in the image");
        // fd 0 is inherited from cryo restart, not saved as a pipe of the tree
        assertEquals(List.of(), PipeFixtureTest.showPipes(cleanup, image), "no PIPE record: the pipe is not the tree's");
        boolean inherited = false;
        for (Map<String, String> f : PipeFixtureTest.showRecords(cleanup, image, "OPEN_FILE"))
            if (("pipe:[" + inode + "]").equals(f.get("what"))) {
                assertEquals("INHERITED", f.get("kind"), "the outside pipe's description: " + f);
                assertEquals("0", f.get("inherit_fd"), "connected to fd 0 at restart: " + f);
                inherited = true;
            }
        assertTrue(inherited, "cryo show has an OPEN_FILE for pipe:[" + inode + "]");

        // the parent reaps the killed child, so its pid is free again
        s.proc().send("reap");
        s.proc().await("REAPED-ALL", l -> l.equals("REAPED-ALL"));
        PipeFixtureTest.awaitGone(List.of(child));
        // the parent's end now has no reader
        s.proc().send("send nobody");
        assertEquals("SENT 0", s.proc().await("SENT", l -> l.startsWith("SENT ")), "the reader was killed: EPIPE");

        Instant t0 = Instant.now();
        Proc r = Cryo.startRestart(cleanup, image, child);
        subreaper.foreign(cleanup, List.of(child), t0, "restored outside child");
        r.send("hello through cryo's stdin");
        assertEquals("GOT hello through cryo's stdin", r.await("GOT", l -> l.startsWith("GOT ") || l.equals("EOF")),
                "the restored child reads cryo restart's stdin at fd 0 and writes to its stdout at fd 1");
        r.send("second line");
        assertEquals("GOT second line", r.await("GOT", l -> l.startsWith("GOT ") || l.equals("EOF")));
        assertEquals(Procfs.stat(child).map(Procfs.Stat::ppid).orElse(-1L), r.pid(), "cryo restart is the restored root's parent");
        r.closeStdin();
        r.await("EOF", l -> l.equals("EOF"));
        assertEquals(0, r.awaitExit(Timeouts.EXIT), "the child exits 0 at EOF and cryo restart with it");
        TreeFixtures.awaitAllGone(List.of(child), java.time.Duration.ofSeconds(30));
        PipeFixtureTest.quit(s.proc());
    }
}
