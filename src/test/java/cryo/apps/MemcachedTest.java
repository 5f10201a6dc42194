package cryo.apps;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
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
 * memcached listening on a Unix socket ({@code -s PATH}): libevent's epolls, the workers' eventfds, the listening
 * socket bound to PATH and an accepted connection, with a Python parent that started it, stored 100 items and keeps
 * its client connection open. The whole tree is checkpointed, killed and restarted: the items are still there, the
 * held connection keeps working both ways, and new clients connect to PATH and see what the held one stored.
 * Checkpointed with --leave-running, the tree serves on the same way, and so does the image restarted after it.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class MemcachedTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final int ITEMS = 100;

    /** The parent: starts memcached, stores the items, then serves "get KEY" / "set KEY VALUE" on its one connection. */
    static final String PROGRAM = """
            import os, socket, subprocess, sys, time
            path, items = sys.argv[1], int(sys.argv[2])
            args = [sys.argv[3], '-s', path, '-a', '0600', '-m', '16', '-t', '2']
            if os.getuid() == 0:
                args += ['-u', 'root']  # memcached refuses to run as root without it
            mc = subprocess.Popen(args, stdin=subprocess.DEVNULL)
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            for _ in range(3000):
                try:
                    c.connect(path)
                    break
                except (FileNotFoundError, ConnectionRefusedError):
                    time.sleep(0.01)
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
            print('READY', os.getpid(), mc.pid, flush=True)
            for line in sys.stdin:
                w = line.split()
                if w[0] == 'get':
                    print('GOT', w[1], get(w[1].encode()), flush=True)
                elif w[0] == 'set':
                    print('SET', w[1], set_(w[1].encode(), w[2].encode()), flush=True)
                elif w[0] == 'quit':
                    break
            c.close()
            mc.terminate()
            print('BYE', mc.wait(), flush=True)
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    /**
     * kill: checkpointed (the tree killed; its socket file stays behind) and restarted. leave-running: the tree
     * checkpointed with --leave-running serves on and quits, its socket file is removed, and the image restarted
     * serves what it held at the checkpoint (not what the original stored after it) on a socket file made again.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"kill", "leave-running"})
    void itemsHeldConnectionAndNewClientsAfterRestart(String mode) throws IOException {
        Path memcached = Programs.need("memcached", "memcached");
        Path python = Fixtures.python();
        Path program = Files.writeString(tmp.resolve("holder.py"), PROGRAM);
        Path socket = tmp.resolve("mc.sock");
        Instant t0 = Instant.now();
        Proc p = cleanup.start("memcached holder", new ProcessBuilder(python.toString(), program.toString(), socket.toString(),
                Integer.toString(ITEMS), memcached.toString()));
        String[] ready = p.await("READY", s -> s.startsWith("READY ") || s.startsWith("FAIL")).split(" ");
        assertEquals(Long.toString(p.pid()), ready[1], p.tails());
        long mc = Long.parseLong(ready[2]);
        assertEquals(List.of(mc), List.copyOf(TreeFixtures.descendants(p.pid())), "memcached is the only other process");
        subreaper.foreign(cleanup, List.of(mc), t0, "memcached");
        assertEquals("GOT key7 value-7", ask(p, "get key7"));

        Path image = tmp.resolve("memcached.img");
        if (mode.equals("leave-running")) {
            Cryo.checkpoint(cleanup, p.pid(), image, "--leave-running");
            serves(p, socket, "left running");
            TreeFixtures.awaitAllGone(List.of(p.pid(), mc), Timeouts.EXIT);
            Files.delete(socket);
        } else {
            Cryo.checkpoint(cleanup, p.pid(), image);
            p.awaitExit(Timeouts.EXIT);
            TreeFixtures.awaitAllGone(List.of(p.pid(), mc), Timeouts.EXIT);
            assertTrue(Files.exists(socket), "the killed memcached left its socket file");
        }

        Instant t1 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, p.pid());
        subreaper.foreign(cleanup, List.of(mc), t1, "restored memcached");
        serves(rest, socket, "after restart");
        TreeFixtures.awaitAllGone(List.of(p.pid(), mc), Timeouts.EXIT);
    }

    /**
     * The holder's connection reads the items and stores one, new clients read them all and store one the held
     * connection then reads, and the tree quits with status 0 (memcached terminated by its parent).
     */
    private static void serves(Proc p, Path socket, String when) throws IOException {
        assertEquals("GOT held -", ask(p, "get held"), when + ": nothing stored after the checkpoint yet");
        assertEquals("GOT fresh -", ask(p, "get fresh"), when + ": nothing stored after the checkpoint yet");
        for (int i : List.of(0, 42, ITEMS - 1))
            assertEquals("GOT key" + i + " value-" + i, ask(p, "get key" + i), when + ": the held connection reads the items");
        assertEquals("SET held STORED", ask(p, "set held by-held"), when + ": the held connection stores an item");

        String keys = IntStream.range(0, ITEMS).mapToObj(i -> "key" + i).collect(Collectors.joining(" "));
        String all = client(socket, "get " + keys + " held\r\n");
        for (int i = 0; i < ITEMS; i++)
            assertTrue(all.contains("VALUE key" + i + " 0 " + ("value-" + i).length() + "\r\nvalue-" + i + "\r\n"),
                    when + ": a new client gets key" + i + ": " + all);
        assertTrue(all.contains("VALUE held 0 7\r\nby-held\r\n"), when + ": a new client sees what the held connection stored: " + all);
        assertEquals("STORED\r\n", client(socket, "set fresh 0 0 5\r\nnewer\r\n"), when + ": a second new client stores an item");
        assertEquals("GOT fresh newer", ask(p, "get fresh"), when + ": the held connection sees what a new client stored");

        p.send("quit");
        assertEquals("BYE 0", p.await("BYE", s -> s.startsWith("BYE")), when + ": memcached exits 0 on SIGTERM");
        assertEquals(0, p.awaitExit(Timeouts.EXIT), p.tails());
        assertEquals(List.of(), Programs.fails(p.out().all()));
    }

    /** One command line to the holder and its answer (a FAIL line on the way fails). */
    private static String ask(Proc p, String line) {
        p.send(line);
        String word = line.startsWith("get") ? "GOT " : "SET ";
        String l = p.await("the answer to '" + line + "'", s -> s.startsWith(word) || s.startsWith("FAIL"));
        if (l.startsWith("FAIL")) throw new AssertionError(l + "\n" + p.tails());
        return l;
    }

    /**
     * A new client on the Unix socket: sends the request and returns the whole answer (up to "END" or "STORED"),
     * each wait bounded.
     */
    static String client(Path socket, String request) throws IOException {
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX); Selector sel = Selector.open()) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            ch.configureBlocking(false);
            ByteBuffer out = ByteBuffer.wrap(request.getBytes(StandardCharsets.ISO_8859_1));
            StringBuilder in = new StringBuilder();
            ByteBuffer buf = ByteBuffer.allocate(1 << 16);
            SelectionKey key = ch.register(sel, SelectionKey.OP_WRITE | SelectionKey.OP_READ);
            while (!(in.toString().endsWith("END\r\n") || in.toString().endsWith("STORED\r\n") || in.toString().endsWith("ERROR\r\n"))) {
                long left = deadline - System.nanoTime();
                if (left <= 0) throw new AssertionError("memcached did not answer '" + request.strip() + "' in time; got: " + in);
                sel.select(Math.max(1, left / 1_000_000));
                sel.selectedKeys().clear();
                if (out.hasRemaining()) ch.write(out);
                if (!out.hasRemaining()) key.interestOps(SelectionKey.OP_READ);
                buf.clear();
                int n = ch.read(buf);
                if (n < 0) throw new AssertionError("memcached closed the connection; got: " + in);
                in.append(new String(buf.array(), 0, n, StandardCharsets.ISO_8859_1));
            }
            return in.toString();
        }
    }
}
