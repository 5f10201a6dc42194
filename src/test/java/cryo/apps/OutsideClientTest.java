package cryo.apps;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A server in the tree (Python, one TCP connection, answers each request line "N" with "N reply") and a client
 * outside it (started by the test, nobody's child in the tree) sending a numbered request every 20 ms on one
 * connection. The server is checkpointed, killed, and restarted after a gap of 1 s (5 s: the network lock must hold
 * that long, the client's retransmissions getting no RST): the client never reconnects (it cannot: one socket, and
 * any error, end of stream or wrong answer is a FAIL line), every request is answered exactly once and in order
 * (both sides check the numbers), and the server, told the end by the client's FIN, exits 0. IPv4 and IPv6.
 * The network lock's table (named in the image) is there during the gap and gone once the tree runs again.
 * Checkpointed with --leave-running, the client sees nothing at all (the socket is left exactly as it was).
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class OutsideClientTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    /** The server: a listening socket kept open, one accepted connection, each request checked and answered. */
    static final String SERVER = """
            import os, socket, sys
            host = sys.argv[1]
            ls = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)
            ls.bind((host, 0))
            ls.listen(1)
            print('READY', os.getpid(), ls.getsockname()[1], flush=True)
            c, peer = ls.accept()
            print('ACCEPTED', peer[1], flush=True)
            n = 0
            for line in c.makefile('rb'):
                n += 1
                if line != b'%d\\n' % n:
                    print('FAIL request %d: %r' % (n, line), flush=True)
                c.sendall(line.rstrip(b'\\n') + b' reply\\n')
            print('BYE', n, flush=True)
            """;

    /**
     * The client: sends "N" every 20 ms until told "stop", checks every answer, then waits for the last answers,
     * shuts its side down and reads to the server's end of stream. "status" prints what it sent and got.
     */
    static final String CLIENT = """
            import socket, sys, threading, time
            host, port = sys.argv[1], int(sys.argv[2])
            c = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)
            c.settimeout(120)
            c.connect((host, port))
            local = c.getsockname()[1]
            print('CONNECTED', local, flush=True)
            st = {'sent': 0, 'answered': 0, 'eof': False}
            stop = threading.Event()

            def reader():
                try:
                    for line in c.makefile('rb'):
                        n = st['answered'] + 1
                        if line != b'%d reply\\n' % n:
                            print('FAIL answer %d: %r' % (n, line), flush=True)
                        st['answered'] = n
                    if not stop.is_set():
                        print('FAIL end of stream before stop after %d answers' % st['answered'], flush=True)
                except Exception as e:
                    print('FAIL reading after %d answers: %r' % (st['answered'], e), flush=True)
                st['eof'] = True

            def commands():
                for line in sys.stdin:
                    if line.strip() == 'status':
                        print('STATUS sent=%d answered=%d local=%d eof=%d' % (st['sent'], st['answered'],
                              c.getsockname()[1], st['eof']), flush=True)
                    elif line.strip() == 'stop':
                        stop.set()

            threading.Thread(target=reader, daemon=True).start()
            threading.Thread(target=commands, daemon=True).start()
            try:
                while not stop.is_set():
                    st['sent'] += 1
                    c.sendall(b'%d\\n' % st['sent'])
                    time.sleep(0.02)
                deadline = time.monotonic() + 20
                while st['answered'] < st['sent'] and not st['eof'] and time.monotonic() < deadline:
                    time.sleep(0.01)
                c.shutdown(socket.SHUT_WR)
                while not st['eof'] and time.monotonic() < deadline:
                    time.sleep(0.01)
            except Exception as e:
                print('FAIL sending request %d: %r' % (st['sent'], e), flush=True)
            print('DONE sent=%d answered=%d local=%d' % (st['sent'], st['answered'], c.getsockname()[1]), flush=True)
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    @ParameterizedTest(name = "{0} {1} gap {2} s")
    @CsvSource({"kill, 127.0.0.1, 1", "kill, ::1, 1", "kill, 127.0.0.1, 5", "leave-running, 127.0.0.1, 0", "leave-running, ::1, 0"})
    void clientKeepsItsConnectionAndEveryRequestIsAnsweredOnce(String mode, String host, int gapSeconds) throws IOException {
        Path python = Fixtures.python();
        Path server = Files.writeString(tmp.resolve("server.py"), SERVER);
        Path clientPy = Files.writeString(tmp.resolve("client.py"), CLIENT);
        Proc p = cleanup.start("server", new ProcessBuilder(python.toString(), server.toString(), host));
        String[] ready = p.await("READY", s -> s.startsWith("READY ")).split(" ");
        assertEquals(Long.toString(p.pid()), ready[1]);
        Proc client = cleanup.start("client", new ProcessBuilder(python.toString(), clientPy.toString(), host, ready[2]));
        String local = client.await("CONNECTED", s -> s.startsWith("CONNECTED ") || s.startsWith("FAIL")).split(" ")[1];
        assertEquals("ACCEPTED " + local, p.await("ACCEPTED", s -> s.startsWith("ACCEPTED ")));
        Net.awaitStatus(client, "20 answers", m -> Net.num(m, "answered") >= 20);

        Path image = tmp.resolve("server.img");
        Proc serving;
        if (mode.equals("leave-running")) {
            Cryo.checkpoint(cleanup, p.pid(), image, "--leave-running");
            serving = p;
        } else {
            Cryo.checkpoint(cleanup, p.pid(), image);
            p.awaitExit(Timeouts.EXIT);
            TreeFixtures.awaitAllGone(List.of(p.pid()), Timeouts.EXIT);
            String lock = Net.lockTable(cleanup, image);
            Procfs.sleep(Duration.ofSeconds(gapSeconds));
            assertTrue(Net.nftHas(cleanup, lock), "the network lock " + lock + " holds while the tree is away");
            serving = Net.restart(cleanup, image, p.pid());
            Net.awaitLockLifted(cleanup, lock);
        }
        // requests sent after the restart are answered too (the retransmitted ones first)
        long sent = Net.num(client.status(), "sent");
        Map<String, String> after = Net.awaitStatus(client, Timeouts.CRYO, "answers to requests sent after the restart",
                m -> Net.num(m, "answered") >= sent + 20);
        assertEquals(local, after.get("local"), "the client's socket is the one it connected");

        client.send("stop");
        String done = client.await("DONE", s -> s.startsWith("DONE "));
        Map<String, String> d = TreeFixtures.fields(done);
        assertEquals(d.get("sent"), d.get("answered"), "every request answered: " + done + "\n" + client.tails());
        assertEquals(local, d.get("local"), done);
        assertEquals(0, client.awaitExit(Timeouts.EXIT), client.tails());
        assertEquals(List.of(), Programs.fails(client.out().all()), "the client saw no error, no wrong or repeated answer");
        assertEquals(List.of(), client.err().all(), "the client printed nothing on stderr");

        assertEquals("BYE " + d.get("sent"), serving.await("BYE", s -> s.startsWith("BYE ")), "the server got each request once");
        assertEquals(0, serving.awaitExit(Timeouts.EXIT), serving.tails());
        TreeFixtures.awaitAllGone(List.of(p.pid()), Timeouts.EXIT);
        assertEquals(List.of(), Programs.fails(p.out().all()), "the server got the requests in order");
        assertEquals(List.of(), Programs.fails(serving.out().all()), "the server got the requests in order");
    }
}
