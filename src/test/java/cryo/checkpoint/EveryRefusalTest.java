package cryo.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint that cannot be taken names every reason at once, one line each, then one summary line; and the
 * tree runs on. Messages say what a socket is (a listening socket is not "connected outside the tree").
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class EveryRefusalTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    /**
     * Three fds cryo does not take, in one process (a TCP listener with a connection not accepted yet, a pidfd,
     * a netlink socket); an epoll that watches one of them adds no reason of its own (the socket's is the reason).
     */
    private static final String SERVER = """
            import os, select, socket, sys
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen()
            waiting = socket.create_connection(s.getsockname())   # never accepted: refused (the client itself is taken)
            ep = select.epoll()
            ep.register(s.fileno(), select.EPOLLIN)
            pidfd = os.pidfd_open(os.getpid())
            uds = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
            uds.bind((0, 0))
            os.write(1, ("%d %d %d %d\\n" % (s.getsockname()[1], s.fileno(), pidfd, uds.fileno())).encode())
            sys.stdin.read()
            """;

    @Test
    void threeUnsupportedFdsAreThreeLinesAndASummary() throws IOException {
        Proc server = cleanup.start("server", new ProcessBuilder("python3", "-c", SERVER));
        String[] f = server.out().next("port and fds", Timeouts.LINE).trim().split(" ");
        Path out = tmp.resolve("x.img");
        Cryo.Result r = Cryo.run(cleanup, "checkpoint", Long.toString(server.pid()), "-o", out.toString());
        assertTrue(r.exit() != 0, r::describe);
        List<String> lines = r.stderrLines();
        assertEquals(4, lines.size(), () -> "three reasons and a summary: " + r.describe());
        String pid = "task " + server.pid() + ": ";
        assertEquals(pid + "fd " + f[1] + " is a listening TCP socket on 127.0.0.1:" + f[0], lines.get(0).substring(6, lines.get(0).indexOf(" (socket:")));
        assertTrue(lines.get(1).startsWith("cryo: " + pid + "fd " + f[2] + " is a pidfd"), lines.get(1));
        assertTrue(lines.get(2).startsWith("cryo: task " + server.pid() + " (python3): fd " + f[3] + " is a netlink socket (NETLINK_ROUTE)"), lines.get(2));
        assertTrue(lines.get(3).startsWith("cryo: checkpoint refused for the 3 reasons above"), lines.get(3));
        for (String l : lines) {
            assertFalse(l.contains("outside the tree"), "a socket of the tree's own is not 'outside the tree': " + l);
            assertFalse(l.contains("Exception"), l);
        }
        assertEquals(List.of(), Cryo.list(tmp), "no image, not even a temporary one");
        Procfs.assertRunningUntraced(server.pid(), "the server");
    }

    @Test
    void aTaskInAChrootIsRefusedNotGivenCryosRoot() throws IOException {
        Path jail = java.nio.file.Files.createDirectory(tmp.resolve("jail"));
        Proc jailed = cleanup.start("jailed", new ProcessBuilder("python3", "-c",
                "import os, sys\nos.chroot(sys.argv[1])\nos.chdir('/')\nos.write(1, b'READY\\n')\nsys.stdin.read()\n", jail.toString()));
        jailed.out().next("READY", Timeouts.LINE);
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(jailed.pid()), "-o", tmp.resolve("j.img").toString()).assertOneLineError();
        assertTrue(line.contains("task " + jailed.pid()) && line.contains("chroot"), line);
        Procfs.assertRunningUntraced(jailed.pid(), "the chrooted task");
    }
}
