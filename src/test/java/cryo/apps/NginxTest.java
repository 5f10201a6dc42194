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
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * nginx with a configuration of the test's own ({@code daemon off}: the master is the process the test started and
 * the root of the tree): a root master and two workers running as nobody, epoll, a listening socket on 127.0.0.1
 * shared by all three, a rate-limited location. A client outside the tree downloads a large file and stops reading
 * half-way (its receive window fills, the worker's send queue holds the rest); the tree is checkpointed, killed and
 * restarted 1 s later: a new client gets a static file, and the paused client, told to read on, finishes the
 * download on its connection with the right SHA-256. With --leave-running, the tree serves on the same way, and
 * the image restarted after the original is stopped serves new clients.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class NginxTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final String HOST = "127.0.0.1";
    static final int WORKERS = 2;
    static final int BIG = 6 << 20;
    static final int PAUSE_AT = 1 << 20;
    static final String INDEX = "hello from nginx\n";

    /** A slow reader: reads the body until PAUSE_AT, waits for "go", reads the rest; prints size and SHA-256. */
    static final String CLIENT = """
            import hashlib, http.client, sys
            host, port, path, pause_at = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
            c = http.client.HTTPConnection(host, port, timeout=120)
            c.request('GET', path)
            r = c.getresponse()
            print('RESPONSE', r.status, r.getheader('Content-Length'), c.sock.getsockname()[1], flush=True)
            h, got, paused = hashlib.sha256(), 0, False
            while True:
                b = r.read(16384)
                if not b:
                    break
                h.update(b)
                got += len(b)
                if not paused and got >= pause_at:
                    paused = True
                    print('PAUSED', got, flush=True)
                    if sys.stdin.readline().strip() != 'go':
                        sys.exit(3)
            print('DONE', got, h.hexdigest(), flush=True)
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"kill", "leave-running"})
    void servesAfterRestartAndAPausedDownloadFinishes(String mode) throws IOException {
        Path sbin = Path.of("/usr/sbin/nginx");   // not on every PATH
        Path nginx = Files.isExecutable(sbin) ? sbin : Programs.need("nginx", "nginx");
        Path python = Fixtures.python();
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));   // the workers run as nobody
        Path www = Files.createDirectories(tmp.resolve("www"));
        Files.writeString(www.resolve("index.html"), INDEX);
        byte[] big = new byte[BIG];
        new Random(13).nextBytes(big);
        Files.write(www.resolve("big.bin"), big);
        Path clientPy = Files.writeString(tmp.resolve("client.py"), CLIENT);

        Instant t0 = Instant.now();
        Started s = start(nginx);
        Proc p = s.master();
        List<Long> workers = s.workers();
        subreaper.foreign(cleanup, workers, t0, "nginx worker");
        assertEquals(INDEX, Net.get(HOST, s.port(), "/index.html").text(), "nginx serves before the checkpoint");

        Proc client = cleanup.start("slow client", new ProcessBuilder(python.toString(), clientPy.toString(), HOST,
                Integer.toString(s.port()), "/big.bin", Integer.toString(PAUSE_AT)));
        String response = client.await("RESPONSE", l -> l.startsWith("RESPONSE "));
        assertTrue(response.startsWith("RESPONSE 200 " + BIG + " "), response);
        client.await("PAUSED", l -> l.startsWith("PAUSED "));

        Path image = tmp.resolve("nginx.img");
        List<Long> tree = new ArrayList<>(workers);
        tree.add(p.pid());
        boolean leave = mode.equals("leave-running");
        if (leave) {
            Cryo.checkpoint(cleanup, p.pid(), image, "--leave-running");
        } else {
            Cryo.checkpoint(cleanup, p.pid(), image);
            p.awaitExit(Timeouts.EXIT);
            TreeFixtures.awaitAllGone(tree, Timeouts.EXIT);
            Procfs.sleep(Duration.ofSeconds(1));
        }
        Proc serving = leave ? p : restart(image, p.pid(), workers);
        if (!leave) Net.awaitLockLifted(cleanup, Net.lockTable(cleanup, image));
        assertEquals(INDEX, Net.get(HOST, s.port(), "/index.html").text(), mode + ": a new client gets the static file\n" + log());

        client.send("go");
        String done = client.await("DONE", l -> l.startsWith("DONE "));
        assertEquals("DONE " + BIG + " " + Net.sha256(big), done, "the paused download finishes with the right checksum\n" + log());
        assertEquals(0, client.awaitExit(Timeouts.EXIT), client.tails());
        stop(serving, p.pid(), tree);

        if (leave) {
            Proc restored = restart(image, p.pid(), workers);
            assertEquals(INDEX, Net.get(HOST, s.port(), "/index.html").text(), "the image restarted after the original serves\n" + log());
            stop(restored, p.pid(), tree);
        }
    }

    record Started(Proc master, List<Long> workers, int port) {}

    /**
     * Starts nginx on a free port (another one if the port was taken in between) and waits until the workers are
     * there and it answers.
     */
    private Started start(Path nginx) throws IOException {
        for (int attempt = 1; ; attempt++) {
            int port = Net.freePort(HOST);
            Path conf = Files.writeString(tmp.resolve("nginx.conf"), config(port));
            Proc p = cleanup.start("nginx", new ProcessBuilder(nginx.toString(), "-p", tmp.toString(), "-c", conf.toString(),
                    "-e", tmp.resolve("error.log").toString()));
            long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
            while (p.isAlive() && TreeFixtures.descendants(p.pid()).size() < WORKERS) {
                if (System.nanoTime() > deadline) throw new AssertionError("nginx started no workers\n" + log());
                Procfs.sleep(Duration.ofMillis(20));
            }
            if (!p.isAlive()) {
                String log = log();
                if (attempt < 3 && log.contains("Address already in use")) continue;
                throw new AssertionError("nginx exited " + p.awaitExit(Timeouts.EXIT) + "\n" + log + p.tails());
            }
            List<Long> workers = List.copyOf(TreeFixtures.descendants(p.pid()));
            assertEquals(WORKERS, workers.size(), "nginx's processes: " + workers);
            for (long w : workers)
                while (!uid(w).equals("65534")) {
                    if (System.nanoTime() > deadline) throw new AssertionError("worker " + w + " does not run as nobody");
                    Procfs.sleep(Duration.ofMillis(20));
                }
            return new Started(p, workers, port);
        }
    }

    /** The effective uid of a process, from /proc/PID/status. */
    private static String uid(long pid) throws IOException {
        return Procfs.read(Path.of("/proc", Long.toString(pid), "status")).lines().filter(l -> l.startsWith("Uid:"))
                .findFirst().orElseThrow().split("\\s+")[2];
    }

    private String config(int port) {
        return """
                daemon off;
                master_process on;
                worker_processes %d;
                user nobody nogroup;
                pid %s/nginx.pid;
                error_log %s/error.log info;
                events {
                    use epoll;
                    worker_connections 64;
                }
                http {
                    access_log %s/access.log;
                    client_body_temp_path %s/client_body;
                    proxy_temp_path %s/proxy;
                    fastcgi_temp_path %s/fastcgi;
                    uwsgi_temp_path %s/uwsgi;
                    scgi_temp_path %s/scgi;
                    types {
                        text/html html;
                    }
                    default_type application/octet-stream;
                    keepalive_timeout 300s;
                    send_timeout 300s;
                    server {
                        listen %s:%d;
                        root %s/www;
                        location = /big.bin {
                            limit_rate 2m;
                        }
                    }
                }
                """.formatted(WORKERS, tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp, HOST, port, tmp);
    }

    /** cryo restart of the image, with the restored workers registered for cleanup, returned once the tree runs. */
    private Proc restart(Path image, long master, List<Long> workers) {
        Instant t = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, master);
        subreaper.foreign(cleanup, workers, t, "restored nginx worker");
        List<Long> tree = new ArrayList<>(workers);
        tree.add(master);
        Net.awaitRestored(rest, master, tree);
        return rest;
    }

    /** SIGTERM to the master (nginx's fast shutdown): the whole tree exits, the master with status 0. */
    private static void stop(Proc serving, long master, List<Long> tree) {
        Net.terminate(master);
        assertEquals(0, serving.awaitExit(Timeouts.EXIT), serving.tails());
        TreeFixtures.awaitAllGone(tree, Timeouts.EXIT);
    }

    private String log() {
        try {
            Path log = tmp.resolve("error.log");
            if (!Files.exists(log)) return "(no error.log)\n";
            List<String> lines = Files.readAllLines(log, StandardCharsets.ISO_8859_1);
            return "error.log:\n  " + String.join("\n  ", lines.subList(Math.max(0, lines.size() - 30), lines.size())) + "\n";
        } catch (IOException e) {
            return "(error.log: " + e + ")\n";
        }
    }
}
