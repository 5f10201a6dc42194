package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * An epoll watching the stdin a program inherited (asyncio and libuv loops do): restart adds the item on
 * its own stdin. Given a stdin epoll cannot watch (/dev/null), restart says so in one line before anything
 * is created; given a pipe, the program reads from it.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class EpollOnStdinTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    /** Echoes each line of stdin as "GOT line", read when its epoll says stdin is ready. */
    static final String PROGRAM = """
            import os, select
            ep = select.epoll()
            ep.register(0, select.EPOLLIN)
            os.write(1, b'READY %d\\n' % os.getpid())
            buf = b''
            while True:
                ep.poll()
                chunk = os.read(0, 4096)
                if not chunk:
                    break
                buf += chunk
                while b'\\n' in buf:
                    line, buf = buf.split(b'\\n', 1)
                    os.write(1, b'GOT ' + line + b'\\n')
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    @Test
    void anEpollOnStdinNeedsAPollableStdinAtRestart() {
        Proc orig = cleanup.start("python", new ProcessBuilder(Fixtures.python().toString(), "-c", PROGRAM));
        long pid = orig.awaitReady();
        orig.send("one");
        assertEquals("GOT one", orig.await("GOT", l -> l.startsWith("GOT")));
        Path image = tmp.resolve("stdin.img");
        Cryo.checkpoint(cleanup, pid, image);
        orig.awaitExit(Timeouts.EXIT);
        Procfs.awaitGone(pid, Timeouts.EXIT);

        // Cryo.run gives cryo /dev/null as stdin
        Leftovers before = Leftovers.snapshot();
        String err = Cryo.run(cleanup, "restart", image.toString()).assertOneLineError();
        assertTrue(err.contains("epoll") && err.contains("/dev/null") && err.contains("fd 0"), "the error names the epoll, fd 0 and /dev/null: " + err);
        assertFalse(Procfs.exists(pid), "nothing restored");
        before.assertNone(cleanup, "a refused restart");

        Proc rest = Cryo.startRestart(cleanup, image, pid);
        rest.send("two");
        assertEquals("GOT two", rest.await("GOT", l -> l.startsWith("GOT")), "the restored epoll watches the new stdin");
        rest.closeStdin();
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }
}
