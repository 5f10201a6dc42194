package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
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
 * A program that made its stdin and stdout non-blocking (Node.js does, on pipes) finds them non-blocking
 * after restart: the descriptions it inherits from `cryo restart` get the status flags they had.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class InheritedFlagsTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    /** Answers each line on stdin with "FLAGS in out": whether fds 0 and 1 are non-blocking now. */
    static final String PROGRAM = """
            import fcntl, os, select
            fcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_NONBLOCK)
            fcntl.fcntl(0, fcntl.F_SETFL, fcntl.fcntl(0, fcntl.F_GETFL) | os.O_NONBLOCK)
            nb = lambda fd: int(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK != 0)
            os.write(1, b'READY %d\\n' % os.getpid())
            buf = b''
            while True:
                select.select([0], [], [])
                try:
                    chunk = os.read(0, 4096)
                except BlockingIOError:
                    continue
                if not chunk:
                    break
                buf += chunk
                while b'\\n' in buf:
                    _, buf = buf.split(b'\\n', 1)
                    os.write(1, b'FLAGS %d %d\\n' % (nb(0), nb(1)))
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    @Test
    void nonBlockingStdioComesBackNonBlocking() {
        Proc orig = cleanup.start("python", new ProcessBuilder(Fixtures.python().toString(), "-c", PROGRAM));
        long pid = orig.awaitReady();
        orig.send("?");
        assertEquals("FLAGS 1 1", orig.await("FLAGS", l -> l.startsWith("FLAGS")));

        Path image = tmp.resolve("nb.img");
        Cryo.checkpoint(cleanup, pid, image);
        orig.awaitExit(Timeouts.EXIT);
        Procfs.awaitGone(pid, Timeouts.EXIT);

        Proc rest = Cryo.startRestart(cleanup, image, pid);
        rest.send("?");
        assertEquals("FLAGS 1 1", rest.await("FLAGS", l -> l.startsWith("FLAGS")),
                "the restored program's stdin and stdout are non-blocking again");
        rest.closeStdin();
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }
}
