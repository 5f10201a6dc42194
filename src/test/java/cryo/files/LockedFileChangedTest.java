package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The locks of a killed tree are down until its restart: a file that changed meanwhile may hold another
 * process's writes that the restored task, believing its lock never let go, would overwrite. Such a restart is
 * refused; an untouched file comes back with its lock.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class LockedFileChangedTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    /** Holds a lockf() write lock on the counter file, then waits for its stdin to close. */
    private static final String HOLDER = """
            import fcntl, os, sys
            fd = os.open(sys.argv[1], os.O_RDWR)
            fcntl.lockf(fd, fcntl.LOCK_EX)
            os.write(1, b'LOCKED %d\\n' % os.getpid())
            sys.stdin.read()
            """;

    /** Exit 0 if the lock is free (it takes and drops it), 1 if another process holds it. */
    private static final String PROBE = """
            import fcntl, os, sys
            fd = os.open(sys.argv[1], os.O_RDWR)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                sys.exit(1)
            """;

    private Path image(Path counter) throws IOException {
        Files.writeString(counter, "100\n");
        Proc holder = cleanup.start("holder", new ProcessBuilder(Fixtures.python().toString(), "-c", HOLDER, counter.toString()));
        holder.await("LOCKED", l -> l.startsWith("LOCKED"));
        Path image = tmp.resolve("locked.img");
        Cryo.checkpoint(cleanup, holder.pid(), image);
        holder.awaitExit(Timeouts.EXIT);
        Procfs.awaitGone(holder.pid(), Timeouts.EXIT);
        return image;
    }

    private int probe(Path counter) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(Fixtures.python().toString(), "-c", PROBE, counter.toString()).start();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the probe ended");
        return p.exitValue();
    }

    @Test
    void aLockedFileWrittenWhileTheTreeWasDownIsRefused() throws Exception {
        Path counter = tmp.resolve("counter");
        Path image = image(counter);
        long pid = Long.parseLong(Cryo.run(cleanup, "show", image.toString()).assertOk().stdout()
                .lines().filter(l -> l.contains("LOCK")).findFirst().orElseThrow().replaceAll(".*pid[= ](\\d+).*", "$1"));
        // another process takes the free lock and writes the same number of bytes
        assertEquals(0, probe(counter), "the lock is free while the tree is down");
        FileTime before = Files.getLastModifiedTime(counter);
        Files.writeString(counter, "103\n", StandardCharsets.US_ASCII);
        Files.setLastModifiedTime(counter, FileTime.fromMillis(before.toMillis() + 1000));
        String line = Cryo.restartExpectingFailure(cleanup, image, pid).assertOneLineError();
        assertTrue(line.contains(counter.toString()) && line.contains("locks were down"), line);
        assertTrue(!Procfs.exists(pid), "nothing restored");
        assertEquals("103\n", Files.readString(counter), "the other process's write is kept");
    }

    @Test
    void anUntouchedLockedFileComesBackLocked() throws Exception {
        Path counter = tmp.resolve("counter");
        Path image = image(counter);
        String showLock = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout()
                .lines().filter(l -> l.contains("LOCK")).findFirst().orElseThrow();
        long pid = Long.parseLong(showLock.replaceAll(".*pid[= ](\\d+).*", "$1"));
        Proc rest = Cryo.startRestart(cleanup, image, pid);
        // the restored holder has its lock again: the probe cannot take it
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (!(Procfs.alive(pid) && Procfs.tracerPid(pid) == 0)) {
            assertTrue(System.nanoTime() < deadline, "the holder was not restored: " + rest.tails());
            Procfs.sleep(java.time.Duration.ofMillis(20));
        }
        assertEquals(1, probe(counter), "the restored holder holds its lock");
        rest.closeStdin();
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
        assertEquals(0, probe(counter), "the lock is free once the holder exited");
    }
}
