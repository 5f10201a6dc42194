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
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Listening TCP sockets: IPv4 and IPv6, loopback and wildcard, with a backlog of their own, SO_REUSEADDR,
 * SO_REUSEPORT, IPV6_V6ONLY, TCP_DEFER_ACCEPT, TCP_FASTOPEN and O_NONBLOCK. After checkpoint and restart (or
 * --leave-running) each listens on the same address and port with the same options and backlog (ss Send-Q) and
 * accepts a new connection. A listener with a connection not accepted yet is refused in one line.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class TcpListenTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final String PROGRAM = """
            import socket, sys, os, select
            S, T, V6 = socket.SOL_SOCKET, socket.IPPROTO_TCP, socket.IPPROTO_IPV6
            def listener(fam, host, backlog, **o):
                l = socket.socket(fam, socket.SOCK_STREAM)
                if o.get('reuseaddr'): l.setsockopt(S, socket.SO_REUSEADDR, 1)
                if o.get('reuseport'): l.setsockopt(S, socket.SO_REUSEPORT, 1)
                if fam == socket.AF_INET6: l.setsockopt(V6, socket.IPV6_V6ONLY, o.get('v6only', 0))
                if o.get('defer'): l.setsockopt(T, socket.TCP_DEFER_ACCEPT, o['defer'])
                if o.get('fastopen'): l.setsockopt(T, socket.TCP_FASTOPEN, o['fastopen'])
                l.bind((host, 0))
                l.listen(backlog)
                if o.get('nonblock'): l.setblocking(False)
                return l
            ls = [listener(socket.AF_INET, '127.0.0.1', 17, reuseaddr=1, defer=5, fastopen=7, nonblock=1),
                  listener(socket.AF_INET, '0.0.0.0', 4, reuseport=1),
                  listener(socket.AF_INET6, '::', 9, v6only=1, reuseport=1, reuseaddr=1),
                  listener(socket.AF_INET6, '::1', 3)]
            def opts(l):
                o = [l.getsockname()[:2], l.getsockopt(S, socket.SO_REUSEADDR), l.getsockopt(S, socket.SO_REUSEPORT),
                     l.getsockopt(T, socket.TCP_DEFER_ACCEPT), l.getsockopt(T, socket.TCP_FASTOPEN), l.getblocking(),
                     l.getsockopt(S, socket.SO_ACCEPTCONN)]
                if l.family == socket.AF_INET6: o.append(l.getsockopt(V6, socket.IPV6_V6ONLY))
                return o
            print('PORTS', ' '.join(str(l.getsockname()[1]) for l in ls), flush=True)
            for line in sys.stdin:
                if line == 'opts\\n':
                    print('OPTS', [opts(l) for l in ls], flush=True)
                elif line == 'accept\\n':
                    for i, l in enumerate(ls):
                        select.select([l], [], [], 30)
                        c, _ = l.accept()
                        c.recv(1)
                        c.sendall(b'hi %d\\n' % i)
                        c.close()
                    print('ACCEPTED', flush=True)
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("ss");
    }

    private static final String[] HOSTS = {"127.0.0.1", "127.0.0.1", "::1", "::1"};
    private static final int[] BACKLOGS = {17, 4, 9, 3};

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"kill", "leave-running"})
    void listenersComeBackWithTheirOptions(String how) throws Exception {
        Proc p = cleanup.start("listeners", new ProcessBuilder(Fixtures.python().toString(), Files.writeString(tmp.resolve("l.py"), PROGRAM).toString()));
        int[] ports = java.util.Arrays.stream(p.await("PORTS", l -> l.startsWith("PORTS ")).substring(6).split(" ")).mapToInt(Integer::parseInt).toArray();
        p.send("opts");
        String before = p.await("OPTS", l -> l.startsWith("OPTS "));
        Path image = tmp.resolve("l.img");
        Proc r = p;
        if (how.equals("kill")) {
            Cryo.checkpoint(cleanup, p.pid(), image);
            p.awaitExit(Timeouts.EXIT);
            r = Cryo.startRestart(cleanup, image, p.pid());
        } else {
            Cryo.checkpoint(cleanup, p.pid(), image, "--leave-running");
        }
        r.send("opts");
        assertEquals(before, r.await("OPTS", l -> l.startsWith("OPTS ")), "the listeners' addresses and options\n" + r.tails());
        for (int i = 0; i < ports.length; i++) assertEquals(BACKLOGS[i], backlog(ports[i]), "backlog of the listener on port " + ports[i]);
        List<Socket> clients = new ArrayList<>();
        try {
            for (int i = 0; i < ports.length; i++) {
                Socket s = new Socket();
                s.connect(new InetSocketAddress(HOSTS[i], ports[i]), 10_000);
                s.setSoTimeout(30_000);
                s.getOutputStream().write('x');   // TCP_DEFER_ACCEPT: accepted once data came
                clients.add(s);
            }
            r.send("accept");
            r.await("ACCEPTED", l -> l.equals("ACCEPTED"));
            for (int i = 0; i < ports.length; i++) assertEquals("hi " + i + "\n", readAll(clients.get(i).getInputStream()));
        } finally {
            for (Socket s : clients) s.close();
        }
        r.closeStdin();
        assertEquals(0, r.awaitExit(Timeouts.EXIT), r.tails());
    }

    @Test
    void aConnectionNotAcceptedYetIsRefused() throws Exception {
        Proc p = cleanup.start("listeners", new ProcessBuilder(Fixtures.python().toString(), Files.writeString(tmp.resolve("l.py"), PROGRAM).toString()));
        int[] ports = java.util.Arrays.stream(p.await("PORTS", l -> l.startsWith("PORTS ")).substring(6).split(" ")).mapToInt(Integer::parseInt).toArray();
        try (Socket s = new Socket(); Socket s2 = new Socket()) {
            s.connect(new InetSocketAddress("::1", ports[3]), 10_000);
            s2.connect(new InetSocketAddress("::1", ports[3]), 10_000);
            String err = Cryo.run(cleanup, "checkpoint", Long.toString(p.pid()), "-o", tmp.resolve("x.img").toString()).assertOneLineError();
            assertTrue(err.contains("task " + p.pid()) && err.contains(":" + ports[3]) && err.contains("2 connection"), err);
            assertTrue(!Files.exists(tmp.resolve("x.img")), "no image");
            // the tree goes on: the two connections are accepted
            p.send("opts");
            p.await("OPTS", l -> l.startsWith("OPTS "));
        }
        p.closeStdin();
        assertEquals(0, p.awaitExit(Timeouts.EXIT), p.tails());
    }

    /** Send-Q of the listener on port, as ss shows it: the backlog (inet_diag idiag_wqueue). */
    static int backlog(int port) throws IOException, InterruptedException {
        Process ss = new ProcessBuilder("ss", "-ltnH", "sport = :" + port).redirectErrorStream(true).start();
        String out = new String(ss.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertTrue(ss.waitFor(30, TimeUnit.SECONDS));
        String[] f = out.split("\\s+");
        assertTrue(f.length >= 3 && out.lines().count() == 1, "ss -ltn for port " + port + ": " + out);
        return Integer.parseInt(f[2]);
    }

    /** How many sockets listen on port now (ss -ltn). */
    static int listeners(int port) throws IOException, InterruptedException {
        Process ss = new ProcessBuilder("ss", "-ltnH", "sport = :" + port).redirectErrorStream(true).start();
        String out = new String(ss.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertTrue(ss.waitFor(30, TimeUnit.SECONDS));
        return out.isEmpty() ? 0 : (int) out.lines().count();
    }

    static String readAll(InputStream in) throws IOException {
        return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
}
