package cryo.apps;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collection;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the network-server tests share: clients the test JVM itself is (outside every tree), a free port for a
 * program that cannot take one from the kernel, and waits on a client's status, each bounded.
 */
final class Net {
    private Net() {}

    /** A port that was free on this address just now (for nginx, which cannot listen on port 0). */
    static int freePort(String host) throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getByName(host), 0));
            return s.getLocalPort();
        }
    }

    /** An HTTP response: the status code and the body. */
    record Response(int status, byte[] body) {
        String text() {
            return new String(body, StandardCharsets.ISO_8859_1);
        }
    }

    /**
     * A GET on a new connection (HTTP/1.0, the server closes it after the answer), read to the end. Every read is
     * bounded by {@link Timeouts#LINE}.
     */
    static Response get(String host, int port, String path) throws IOException {
        byte[] raw = exchange(host, port, "GET " + path + " HTTP/1.0\r\nHost: " + hostHeader(host, port) + "\r\n\r\n", null);
        int end = indexOf(raw, "\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        if (end < 0) throw new AssertionError("no HTTP header in the answer to GET " + path + ": " + printable(raw));
        String head = new String(raw, 0, end, StandardCharsets.ISO_8859_1);
        String[] statusLine = head.lines().findFirst().orElse("").split(" ");
        if (statusLine.length < 2 || !statusLine[0].startsWith("HTTP/"))
            throw new AssertionError("not an HTTP answer to GET " + path + ": " + head);
        return new Response(Integer.parseInt(statusLine[1]), Arrays.copyOfRange(raw, end + 4, raw.length));
    }

    static String hostHeader(String host, int port) {
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }

    /**
     * Sends the request on a new TCP connection and reads the answer until the server closes the connection
     * (done == null) or the text read so far satisfies done. Bounded by {@link Timeouts#LINE} per read and overall.
     */
    static byte[] exchange(String host, int port, String request, Predicate<String> done) throws IOException {
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getByName(host), port), (int) Timeouts.LINE.toMillis());
            s.setSoTimeout(1000);
            s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            InputStream in = s.getInputStream();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            byte[] buf = new byte[1 << 16];
            while (done == null || !done.test(got.toString(StandardCharsets.ISO_8859_1))) {
                if (System.nanoTime() > deadline)
                    throw new AssertionError("no complete answer from " + host + ":" + port + " to '" + request.strip()
                            + "' in " + Timeouts.LINE.toSeconds() + " s; got: " + printable(got.toByteArray()));
                int n;
                try {
                    n = in.read(buf);
                } catch (SocketTimeoutException e) {
                    continue;
                }
                if (n < 0) {
                    if (done == null) break;
                    throw new AssertionError("the server closed the connection before a complete answer to '" + request.strip()
                            + "'; got: " + printable(got.toByteArray()));
                }
                got.write(buf, 0, n);
            }
            return got.toByteArray();
        }
    }

    static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** SIGTERM to a process that is not the JVM's child (a restored server), if it is still there. */
    static void terminate(long pid) {
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroy);
    }

    /** {@code cryo restart IMAGE} in the foreground, returned once the restored tree runs ({@link #awaitRestored}). */
    static Proc restart(Cleanup cleanup, Path image, long root) {
        Proc rest = Cryo.startRestart(cleanup, image, root);
        awaitRestored(rest, root, List.of(root));
        return rest;
    }

    /**
     * Waits until cryo restart has let the restored tree run: the root a child of the restart process, every pid
     * of the tree alive, traced by nobody and not stopped (a server that prints nothing when restored cannot say so
     * itself, and a client connecting earlier finds no listener).
     */
    static void awaitRestored(Proc restart, long root, Collection<Long> tree) {
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (true) {
            boolean running = Procfs.alive(root) && Procfs.ppid(root) == restart.pid();
            for (long pid : tree)
                running &= Procfs.alive(pid) && Procfs.tracerPid(pid) == 0 && Procfs.state(pid) != 't' && Procfs.state(pid) != 'T';
            if (running) return;
            if (!restart.isAlive())
                throw new AssertionError("cryo restart exited " + restart.awaitExit(Timeouts.EXIT) + "\n" + restart.tails());
            if (System.nanoTime() > deadline)
                throw new AssertionError("the restored tree " + tree + " does not run after " + Timeouts.CRYO.toSeconds() + " s\n"
                        + restart.tails());
            Procfs.sleep(Duration.ofMillis(10));
        }
    }

    private static final Pattern LOCK_TABLE = Pattern.compile("cryo-lock-[0-9]+-[0-9]+-[0-9]+");

    /** The network lock's nftables table that {@code cryo show} names in the image of a tree with TCP sockets. */
    static String lockTable(Cleanup cleanup, Path image) {
        Cryo.Result show = Cryo.run(cleanup, "show", image.toString()).assertOk();
        Matcher m = LOCK_TABLE.matcher(show.stdout());
        if (!m.find()) throw new AssertionError("the image names no network lock table: " + show.describe());
        return m.group();
    }

    /** Whether nftables has this table (family inet). */
    static boolean nftHas(Cleanup cleanup, String table) {
        Path sbin = Path.of("/usr/sbin/nft");
        String nft = Files.isExecutable(sbin) ? sbin.toString() : "nft";
        Cryo.Result r = Cryo.collect(cleanup, List.of(nft, "list", "tables", "inet"), new ProcessBuilder(nft, "list", "tables", "inet"));
        if (r.exit() != 0) throw new AssertionError("nft list tables inet: " + r.describe());
        return r.stdout().lines().anyMatch(l -> l.strip().equals("table inet " + table));
    }

    /** Waits (bounded) until the restart has lifted the network lock: its table is gone. */
    static void awaitLockLifted(Cleanup cleanup, String table) {
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (nftHas(cleanup, table)) {
            if (System.nanoTime() > deadline)
                throw new AssertionError("the network lock " + table + " is still there " + Timeouts.LINE.toSeconds()
                        + " s after the restarted tree runs");
            Procfs.sleep(Duration.ofMillis(50));
        }
    }

    /** A client's "status" answer as numbers, asked again until it satisfies the condition (bounded). */
    static Map<String, String> awaitStatus(Proc client, String what, Predicate<Map<String, String>> ok) {
        return awaitStatus(client, Timeouts.LINE, what, ok);
    }

    /**
     * The same with a timeout of its own (after a long gap, a client's next retransmission may come many seconds
     * after the restart: TCP backs off).
     */
    static Map<String, String> awaitStatus(Proc client, Duration timeout, String what, Predicate<Map<String, String>> ok) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            Map<String, String> m = client.status();
            if (ok.test(m)) return m;
            if (System.nanoTime() > deadline)
                throw new AssertionError("waiting for " + what + ": the client's status stays " + m + "\n" + client.tails());
            Procfs.sleep(Duration.ofMillis(50));
        }
    }

    static long num(Map<String, String> status, String key) {
        String v = status.get(key);
        if (v == null) throw new AssertionError("no " + key + " in " + status);
        return Long.parseLong(v);
    }

    private static int indexOf(byte[] a, byte[] sub) {
        outer:
        for (int i = 0; i + sub.length <= a.length; i++) {
            for (int j = 0; j < sub.length; j++)
                if (a[i + j] != sub[j]) continue outer;
            return i;
        }
        return -1;
    }

    private static String printable(byte[] b) {
        String s = new String(b, 0, Math.min(b.length, 2000), StandardCharsets.ISO_8859_1);
        StringBuilder sb = new StringBuilder();
        for (char c : s.toCharArray()) sb.append(c == '\n' || (c >= 32 && c < 127) ? c : '.');
        return sb.toString();
    }
}
