package cryo.apps;

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
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * memcached over TCP ({@code -l 127.0.0.1 -p -1 -U 0}: a port the kernel chooses, which memcached writes to
 * MEMCACHED_PORT_FILENAME) is the whole tree: its threads, libevent's epolls, the listening socket and an
 * established connection. A client outside the tree stored 100 items and keeps its connection. Checkpointed,
 * killed, restarted 1 s later: the held connection reads the items and stores one, a new client reads them all and
 * stores one the held connection then reads. With --leave-running, the tree serves on the same way; the image
 * restarted after the original is stopped holds what was stored before the checkpoint, not after.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class MemcachedTcpTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final String HOST = "127.0.0.1";
    static final int ITEMS = 100;

    /** The held client: stores the items, then serves "get KEY" / "set KEY VALUE" from stdin on its one connection. */
    static final String CLIENT = """
            import socket, sys
            host, port, items = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
            c = socket.create_connection((host, port), timeout=60)
            f = c.makefile('rb')

            def set_(k, v):
                c.sendall(b'set %s 0 0 %d\\r\\n%s\\r\\n' % (k, len(v), v))
                return f.readline().rstrip(b'\\r\\n').decode()

            def get(k):
                c.sendall(b'get %s\\r\\n' % k)
                value = '-'
                while True:
                    l = f.readline()
                    if not l:
                        return 'EOF'
                    l = l.rstrip(b'\\r\\n')
                    if l == b'END':
                        return value
                    if l.startswith(b'VALUE'):
                        value = f.readline().rstrip(b'\\r\\n').decode()

            for i in range(items):
                r = set_(b'key%d' % i, b'value-%d' % i)
                if r != 'STORED':
                    print('FAIL set key%d: %s' % (i, r), flush=True)
            print('READY', c.getsockname()[1], flush=True)
            for line in sys.stdin:
                w = line.split()
                try:
                    if w[0] == 'get':
                        print('GOT', w[1], get(w[1].encode()), c.getsockname()[1], flush=True)
                    elif w[0] == 'set':
                        print('SET', w[1], set_(w[1].encode(), w[2].encode()), c.getsockname()[1], flush=True)
                    elif w[0] == 'quit':
                        break
                except Exception as e:
                    print('FAIL %s: %r' % (line.strip(), e), flush=True)
            c.close()
            print('BYE', flush=True)
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"kill", "leave-running"})
    void itemsHeldConnectionAndNewClientsAfterRestart(String mode) throws IOException {
        Path memcached = Programs.need("memcached", "memcached");
        Path python = Fixtures.python();
        Path portFile = tmp.resolve("ports");
        List<String> args = new ArrayList<>(List.of(memcached.toString(), "-l", HOST, "-p", "-1", "-U", "0", "-m", "16", "-t", "2"));
        if (cryo.testing.Os.geteuid() == 0) args.addAll(List.of("-u", "root"));   // memcached refuses root without it
        ProcessBuilder pb = new ProcessBuilder(args);
        pb.environment().put("MEMCACHED_PORT_FILENAME", portFile.toString());
        Proc p = cleanup.start("memcached", pb);
        int port = port(p, portFile);
        assertEquals(List.of(), List.copyOf(TreeFixtures.descendants(p.pid())), "memcached is one process");

        Path clientPy = Files.writeString(tmp.resolve("client.py"), CLIENT);
        Proc client = cleanup.start("held client", new ProcessBuilder(python.toString(), clientPy.toString(), HOST,
                Integer.toString(port), Integer.toString(ITEMS)));
        String local = client.await("READY", l -> l.startsWith("READY ") || l.startsWith("FAIL")).split(" ")[1];
        assertEquals("GOT key7 value-7 " + local, ask(client, "get key7"));

        Path image = tmp.resolve("memcached.img");
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
            Net.awaitLockLifted(cleanup, Net.lockTable(cleanup, image));
        }
        String when = leave ? "left running" : "after restart";
        for (int i : List.of(0, 42, ITEMS - 1))
            assertEquals("GOT key" + i + " value-" + i + " " + local, ask(client, "get key" + i), when + ": the held connection reads the items");
        assertEquals("SET held STORED " + local, ask(client, "set held by-held"), when + ": the held connection stores an item");
        String all = getAll(port, true);
        assertTrue(all.contains("VALUE held 0 7\r\nby-held\r\n"), when + ": a new client sees what the held connection stored: " + all);
        assertEquals("STORED\r\n", exchange(port, "set fresh 0 0 5\r\nnewer\r\n"), when + ": a new client stores an item");
        assertEquals("GOT fresh newer " + local, ask(client, "get fresh"), when + ": the held connection sees what a new client stored");
        client.send("quit");
        client.await("BYE", l -> l.equals("BYE"));
        assertEquals(0, client.awaitExit(Timeouts.EXIT), client.tails());
        assertEquals(List.of(), Programs.fails(client.out().all()), "the held client saw no error");
        stop(serving, p.pid());

        if (leave) {
            Proc restored = Net.restart(cleanup, image, p.pid());
            String held = getAll(port, false);
            assertFalse(held.contains("VALUE held") || held.contains("VALUE fresh"),
                    "the restarted image holds what was stored before the checkpoint only: " + held);
            stop(restored, p.pid());
        }
    }

    /** The port memcached writes to MEMCACHED_PORT_FILENAME ("TCP INET: PORT") once it listens. */
    private static int port(Proc p, Path portFile) throws IOException {
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (true) {
            if (Files.exists(portFile)) {
                for (String l : Files.readAllLines(portFile, StandardCharsets.ISO_8859_1))
                    if (l.startsWith("TCP INET: ")) return Integer.parseInt(l.substring(10).trim());
            }
            if (!p.isAlive()) throw new AssertionError("memcached exited " + p.awaitExit(Timeouts.EXIT) + "\n" + p.tails());
            if (System.nanoTime() > deadline) throw new AssertionError("memcached wrote no port to " + portFile + "\n" + p.tails());
            Procfs.sleep(Duration.ofMillis(20));
        }
    }

    /** A new client gets every item (and "held", which may be missing): all the items are there. */
    private static String getAll(int port, boolean withHeld) throws IOException {
        String keys = IntStream.range(0, ITEMS).mapToObj(i -> "key" + i).collect(Collectors.joining(" "));
        String all = exchange(port, "get " + keys + " held fresh\r\n");
        for (int i = 0; i < ITEMS; i++)
            assertTrue(all.contains("VALUE key" + i + " 0 " + ("value-" + i).length() + "\r\nvalue-" + i + "\r\n"),
                    "a new client gets key" + i + (withHeld ? "" : " from the image restarted after the original") + ": " + all);
        return all;
    }

    private static String exchange(int port, String request) throws IOException {
        return new String(Net.exchange(HOST, port, request,
                s -> s.endsWith("END\r\n") || s.endsWith("STORED\r\n") || s.endsWith("ERROR\r\n")), StandardCharsets.ISO_8859_1);
    }

    /** One command line to the held client and its answer (a FAIL line on the way fails). */
    private static String ask(Proc client, String line) {
        client.send(line);
        String word = line.startsWith("get") ? "GOT " : "SET ";
        String l = client.await("the answer to '" + line + "'", s -> s.startsWith(word) || s.startsWith("FAIL"));
        if (l.startsWith("FAIL")) throw new AssertionError(l + "\n" + client.tails());
        return l;
    }

    /** SIGTERM to memcached (restored or not): it exits 0. */
    private static void stop(Proc serving, long pid) {
        Net.terminate(pid);
        assertEquals(0, serving.awaitExit(Timeouts.EXIT), serving.tails());
        TreeFixtures.awaitAllGone(List.of(pid), Timeouts.EXIT);
    }
}
