package cryo.inet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Half-closed connections of a server in the tree with a client outside: one whose client sent data and its
 * FIN, unread by the server (CLOSE_WAIT), one the server shut down for writing (FIN_WAIT2). After checkpoint
 * and restart (or --leave-running; IPv4, IPv6, and IPv4 on an IPv6 socket) they are in the same states; the server reads the data and then end of
 * file on the first and answers, and still reads what the client sends on the second.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class TcpHalfClosedTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final String SERVER = """
            import socket, sys
            l = socket.socket(socket.AF_INET6 if sys.argv[1] in ('6', '64') else socket.AF_INET)
            if sys.argv[1] == '64': l.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            l.bind(({'6': '::1', '64': '::'}.get(sys.argv[1], '127.0.0.1'), 0))
            l.listen(2)
            print('PORT', l.getsockname()[1], flush=True)
            c1, _ = l.accept()
            c2, _ = l.accept()
            c2.shutdown(socket.SHUT_WR)
            print('READY', c1.getsockname()[1], c1.getpeername()[1], c2.getpeername()[1], flush=True)
            sys.stdin.readline()
            d = b''
            while True:
                b = c1.recv(100)
                if not b:
                    break
                d += b
            print('C1', d.decode(), flush=True)
            c1.sendall(b'got ' + d)
            c1.close()
            print('C2', c2.recv(100).decode(), flush=True)
            print('C2EOF', c2.recv(100) == b'', flush=True)
            """;

    static final String CLIENT = """
            import socket, sys
            fam, host = (socket.AF_INET6, '::1') if sys.argv[1] == '6' else (socket.AF_INET, '127.0.0.1')
            s1 = socket.create_connection((host, int(sys.argv[2])))
            s2 = socket.create_connection((host, int(sys.argv[2])))
            s1.sendall(b'data1')
            s1.shutdown(socket.SHUT_WR)
            print('S2EOF', s2.recv(10) == b'', flush=True)
            sys.stdin.readline()
            try:
                s2.sendall(b'after')
                r = b''
                while True:
                    b = s1.recv(100)
                    if not b:
                        break
                    r += b
                print('S1', r.decode(), flush=True)
                s2.close()
            except Exception as e:
                print('ERROR', repr(e), flush=True)
                sys.exit(1)
            print('DONE', flush=True)
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("ss");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"4 kill", "6 kill", "64 kill", "4 leave-running"})
    void halfClosedConnectionsStayHalfClosed(String how) throws Exception {
        String family = how.split(" ")[0];
        Path python = Fixtures.python();
        Proc s = cleanup.start("server", new ProcessBuilder(python.toString(), Files.writeString(tmp.resolve("s.py"), SERVER).toString(), family));
        String port = s.await("PORT", l -> l.startsWith("PORT ")).split(" ")[1];
        Proc c = cleanup.start("client", new ProcessBuilder(python.toString(), Files.writeString(tmp.resolve("c.py"), CLIENT).toString(), family, port));
        String[] ready = s.await("READY", l -> l.startsWith("READY ")).split(" ");
        assertEquals("S2EOF True", c.await("S2EOF", l -> l.startsWith("S2EOF")));
        String c1 = ready[2], c2 = ready[3];
        awaitState(port, c1, "CLOSE-WAIT");
        awaitState(port, c2, "FIN-WAIT-2");
        TcpPrograms.awaitClientsAcknowledged(port);

        Path image = tmp.resolve("s.img");
        Proc r = s;
        if (how.endsWith("kill")) {
            Cryo.checkpoint(cleanup, s.pid(), image);
            s.awaitExit(Timeouts.EXIT);
            r = Cryo.startRestart(cleanup, image, s.pid());
        } else {
            Cryo.checkpoint(cleanup, s.pid(), image, "--leave-running");
        }
        awaitState(port, c1, "CLOSE-WAIT");
        awaitState(port, c2, "FIN-WAIT-2");
        r.send("go");
        assertEquals("C1 data1", r.await("C1", l -> l.startsWith("C1 ")), r.tails());
        c.send("go");
        assertEquals("C2 after", r.await("C2", l -> l.startsWith("C2 ")), r.tails());
        assertEquals("C2EOF True", r.await("C2EOF", l -> l.startsWith("C2EOF")), r.tails());
        assertEquals("S1 got data1", c.await("S1", l -> l.startsWith("S1 ") || l.startsWith("ERROR")), c.tails());
        assertEquals("DONE", c.await("DONE", l -> l.equals("DONE") || l.startsWith("ERROR")));
        assertEquals(0, c.awaitExit(Timeouts.EXIT), c.tails());
        assertEquals(0, r.awaitExit(Timeouts.EXIT), r.tails());
    }

    /** Waits until the server's side of the connection from client port peer is in state (ss names), for up to 10 s. */
    private static void awaitState(String port, String peer, String state) throws IOException, InterruptedException {
        String last = "";
        for (int i = 0; i < 200; i++) {
            Process ss = new ProcessBuilder("ss", "-tanH", "sport = :" + port + " and dport = :" + peer).redirectErrorStream(true).start();
            last = new String(ss.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            assertTrue(ss.waitFor(30, TimeUnit.SECONDS));
            if (last.startsWith(state + " ")) return;
            Thread.sleep(50);
        }
        throw new AssertionError("the server's connection from port " + peer + " is not " + state + ": " + last);
    }
}
