package cryo.apps;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
 * A UDP echo server in the tree (Python, one socket bound to a port the kernel chose) and a client outside it
 * sending a numbered datagram every 20 ms from one unconnected socket and checking each echo: it comes from the
 * server's address and port, its number is one the client sent, and no number comes back twice (UDP may reorder:
 * the datagrams queued at the checkpoint may come back after later ones). The server
 * is checkpointed, killed and restarted 1 s later: echoes resume for datagrams sent after the restart (those sent
 * while the tree was away may be lost: not asserted), from the same port, to the client's unchanged socket. IPv4 and
 * IPv6. With --leave-running the echoes go on, and the image restarted after the original is stopped echoes too
 * (datagrams queued at the checkpoint are then echoed a second time).
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class UdpEchoTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final String SERVER = """
            import os, socket, sys
            host = sys.argv[1]
            s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((host, 0))
            print('READY', os.getpid(), s.getsockname()[1], flush=True)
            while True:
                data, peer = s.recvfrom(2048)
                s.sendto(data, peer)
            """;

    static final String CLIENT = """
            import socket, sys, threading, time
            host, port = sys.argv[1], int(sys.argv[2])
            s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((host, 0))
            server = socket.getaddrinfo(host, port, s.family, socket.SOCK_DGRAM)[0][4]
            print('BOUND', s.getsockname()[1], flush=True)
            st = {'sent': 0, 'echoed': 0, 'last': 0}
            seen = set()
            stop = threading.Event()

            def receiver():
                while True:
                    data, peer = s.recvfrom(2048)
                    n = int(data.split()[1])
                    if peer[:2] != server[:2]:
                        print('FAIL echo %d from %r, not %r' % (n, peer, server), flush=True)
                    if data != b'datagram %d end' % n or n in seen or n > st['sent']:
                        print('FAIL echo %r after %d (sent %d)' % (data, st['last'], st['sent']), flush=True)
                    seen.add(n)
                    st['echoed'] += 1
                    st['last'] = max(n, st['last'])

            def commands():
                for line in sys.stdin:
                    if line.strip() == 'status':
                        print('STATUS sent=%d echoed=%d last=%d local=%d' % (st['sent'], st['echoed'], st['last'],
                              s.getsockname()[1]), flush=True)
                    elif line.strip() == 'rewind':
                        seen.clear()
                        print('REWOUND', flush=True)
                    elif line.strip() == 'stop':
                        stop.set()

            threading.Thread(target=receiver, daemon=True).start()
            threading.Thread(target=commands, daemon=True).start()
            while not stop.is_set():
                st['sent'] += 1
                s.sendto(b'datagram %d end' % st['sent'], server)
                time.sleep(0.02)
            print('DONE', flush=True)
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"kill, 127.0.0.1", "kill, ::1", "leave-running, 127.0.0.1"})
    void echoesResumeOnTheSamePort(String mode, String host) throws IOException {
        Path python = Fixtures.python();
        Path server = Files.writeString(tmp.resolve("server.py"), SERVER);
        Path clientPy = Files.writeString(tmp.resolve("client.py"), CLIENT);
        Proc p = cleanup.start("udp echo", new ProcessBuilder(python.toString(), server.toString(), host));
        String[] ready = p.await("READY", s -> s.startsWith("READY ")).split(" ");
        assertEquals(Long.toString(p.pid()), ready[1]);
        Proc client = cleanup.start("udp client", new ProcessBuilder(python.toString(), clientPy.toString(), host, ready[2]));
        String local = client.await("BOUND", s -> s.startsWith("BOUND ")).split(" ")[1];
        Net.awaitStatus(client, "20 echoes", m -> Net.num(m, "echoed") >= 20);

        Path image = tmp.resolve("udp.img");
        boolean leave = mode.equals("leave-running");
        Proc serving;
        if (leave) {
            Cryo.checkpoint(cleanup, p.pid(), image, "--leave-running");
            serving = p;
        } else {
            Cryo.checkpoint(cleanup, p.pid(), image);
            p.awaitExit(Timeouts.EXIT);
            TreeFixtures.awaitAllGone(List.of(p.pid()), Timeouts.EXIT);
            Procfs.sleep(Duration.ofSeconds(1));
            serving = Net.restart(cleanup, image, p.pid());
        }
        echoesResume(client, local, mode);
        stop(serving, p.pid());

        if (leave) {
            // the image may hold datagrams queued at the checkpoint, which the original has echoed since: they come back twice
            client.send("rewind");
            client.await("REWOUND", s -> s.equals("REWOUND"));
            Proc restored = Net.restart(cleanup, image, p.pid());
            echoesResume(client, local, "the image restarted after the original");
            stop(restored, p.pid());
        }
        client.send("stop");
        client.await("DONE", s -> s.equals("DONE"));
        assertEquals(0, client.awaitExit(Timeouts.EXIT), client.tails());
        assertEquals(List.of(), Programs.fails(client.out().all()), "every echo came from the server's port, once");
        assertEquals(List.of(), client.err().all(), "the client printed nothing on stderr");
    }

    /** Datagrams sent from now on are echoed (20 of them), to the client's socket of the start. */
    private static void echoesResume(Proc client, String local, String when) {
        long sent = Net.num(client.status(), "sent");
        Map<String, String> m = Net.awaitStatus(client, when + ": echoes of datagrams sent after " + sent,
                s -> Net.num(s, "last") >= sent + 20);
        assertEquals(local, m.get("local"), "the client's socket is unchanged");
    }

    /** SIGTERM to the server (restored or not), which dies of it. */
    private static void stop(Proc serving, long pid) {
        Net.terminate(pid);
        serving.awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(List.of(pid), Timeouts.EXIT);
        assertEquals(List.of(), serving.out().all().stream().filter(l -> l.contains("Traceback")).toList());
    }
}
