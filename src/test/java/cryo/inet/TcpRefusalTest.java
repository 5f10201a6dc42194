package cryo.inet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Timeouts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * What cryo cannot restore exactly is refused at checkpoint in one line: a connect in progress (SYN_SENT).
 * Urgent data (MSG_OOB) waiting in a connection is refused in one line naming the task and the socket, and
 * the failed checkpoint leaves every socket of the tree as it was: the other connection, read in repair mode
 * before the refusal, and this one go on.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class TcpRefusalTest {
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
            l = socket.socket()
            l.bind(('127.0.0.1', 0))
            l.listen(2)
            print('PORT', l.getsockname()[1], flush=True)
            a, _ = l.accept()
            b, _ = l.accept()
            print('READY', flush=True)
            sys.stdin.readline()
            for c in (a, b):
                c.sendall(b'echo ' + c.recv(100))
            print('DONE', flush=True)
            """;

    static final String CLIENT = """
            import socket, sys
            a = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
            b = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
            a.sendall(b'plain')
            b.send(b'!', socket.MSG_OOB)
            print('SENT', flush=True)
            sys.stdin.readline()
            b.sendall(b'more')
            print('A', a.recv(100).decode(), flush=True)
            print('B', b.recv(100).decode(), flush=True)
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    static final String CONNECTING = """
            import socket, sys
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(('127.0.0.1', int(sys.argv[1])))
            except BlockingIOError:
                pass
            print('CONNECTING', flush=True)
            sys.stdin.readline()
            """;

    /** A non-blocking connect whose SYN gets no answer (the test's own nftables rule drops it): SYN_SENT, refused in one line. */
    @Test
    void aConnectInProgressIsRefused() throws Exception {
        Fixtures.assumeTool("nft");
        String table = "cryo_tcp_synsent_" + ProcessHandle.current().pid();
        try (java.net.ServerSocket target = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            String port = Integer.toString(target.getLocalPort());
            nft("add", "table", "ip", table);
            nft("add", "chain", "ip", table, "in", "{ type filter hook input priority 0 ; }");
            nft("add", "rule", "ip", table, "in", "ip", "daddr", "127.0.0.1", "tcp", "dport", port, "tcp", "flags", "syn", "drop");
            Proc p = cleanup.start("connecting", new ProcessBuilder(Fixtures.python().toString(), Files.writeString(tmp.resolve("c.py"), CONNECTING).toString(), port));
            p.await("CONNECTING", l -> l.equals("CONNECTING"));
            String line = Cryo.run(cleanup, "checkpoint", Long.toString(p.pid()), "-o", tmp.resolve("x.img").toString()).assertOneLineError();
            assertTrue(line.contains("task " + p.pid()) && line.contains("fd 3") && line.contains("SYN_SENT") && line.contains("connect() still in progress"), line);
            p.closeStdin();
            assertEquals(0, p.awaitExit(Timeouts.EXIT), p.tails());
        } finally {
            new ProcessBuilder("nft", "delete", "table", "ip", table).redirectErrorStream(true).start().waitFor(30, TimeUnit.SECONDS);
        }
    }

    private static void nft(String... args) throws java.io.IOException, InterruptedException {
        java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of("nft"));
        cmd.addAll(java.util.List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0, cmd + ": " + out);
    }

    @Test
    void urgentDataIsRefusedAndEverySocketGoesOn() throws Exception {
        Path python = Fixtures.python();
        Proc s = cleanup.start("server", new ProcessBuilder(python.toString(), Files.writeString(tmp.resolve("s.py"), SERVER).toString()));
        String port = s.await("PORT", l -> l.startsWith("PORT ")).split(" ")[1];
        Proc c = cleanup.start("client", new ProcessBuilder(python.toString(), Files.writeString(tmp.resolve("c.py"), CLIENT).toString(), port));
        s.await("READY", l -> l.equals("READY"));
        c.await("SENT", l -> l.equals("SENT"));
        Path image = tmp.resolve("x.img");
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(s.pid()), "-o", image.toString()).assertOneLineError();
        assertTrue(line.contains("task " + s.pid()) && line.contains("fd 5") && line.contains("urgent data"), line);
        assertFalse(Files.exists(image));
        c.send("go");
        s.send("go");
        s.await("DONE", l -> l.equals("DONE"));
        assertEquals("A echo plain", c.await("A", l -> l.startsWith("A ")), c.tails());
        // the urgent byte is out of band: the plain read sees what came after it
        assertEquals("B echo more", c.await("B", l -> l.startsWith("B ")), c.tails());
        assertEquals(0, s.awaitExit(Timeouts.EXIT), s.tails());
        assertEquals(0, c.awaitExit(Timeouts.EXIT), c.tails());
    }
}
