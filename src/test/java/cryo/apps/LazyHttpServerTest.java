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
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Python http.server holding a 128 MiB buffer, restarted with --lazy while the background fill is held
 * (CRYO_LAZY_HOLD): its first request is answered, from memory that comes in on first touch only, with what it
 * answered before the checkpoint.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class LazyHttpServerTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final String HOST = "127.0.0.1";

    /** Answers every GET with the buffer's size and a sum over one byte of each of its pages. */
    static final String SERVER = """
            import http.server, os
            buf = bytearray(os.urandom(1 << 20)) * 128
            class H(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    body = ('%d %d\\n' % (len(buf), sum(buf[::4096]))).encode()
                    self.send_response(200)
                    self.send_header('Content-Length', str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                def log_message(self, *a):
                    pass
            srv = http.server.HTTPServer(('127.0.0.1', 0), H)
            print('READY %d %d' % (os.getpid(), srv.server_address[1]), flush=True)
            srv.serve_forever()
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    @Test
    void serverAnswersItsFirstRequestBeforeItsMemoryIsIn() throws Exception {
        Proc p = cleanup.start("http.server", new ProcessBuilder(Fixtures.python().toString(), "-c", SERVER));
        String[] ready = p.await("READY", l -> l.startsWith("READY ")).split(" ");
        long pid = p.pid();
        assertEquals(Long.toString(pid), ready[1]);
        int port = Integer.parseInt(ready[2]);
        Net.Response before = Net.get(HOST, port, "/");
        assertEquals(200, before.status(), before.text());

        Path image = tmp.resolve("http.img");
        Cryo.checkpoint(cleanup, pid, image);
        p.awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(List.of(pid), Timeouts.EXIT);

        ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), "restart", "--lazy", image.toString())).directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of("CRYO_LAZY_HOLD", "1"));   // no background fill: only what the server touches comes in
        cleanup.foreign(pid, Instant.now(), "restored server");
        Proc rest = cleanup.start("restart --lazy", pb);
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (!(Procfs.alive(pid) && Procfs.ppid(pid) == rest.pid() && Procfs.state(pid) != 't' && Procfs.state(pid) != 'T')) {
            if (!rest.isAlive()) throw new AssertionError("cryo restart exited " + rest.awaitExit(Timeouts.EXIT) + "\n" + rest.tails());
            if (System.nanoTime() > deadline) throw new AssertionError("the restored server does not run\n" + rest.tails());
            Procfs.sleep(Duration.ofMillis(10));
        }
        Net.Response after = Net.get(HOST, port, "/");
        assertEquals(200, after.status(), after.text());
        assertEquals(before.text(), after.text(), "the same buffer after the lazy restart");
        Net.terminate(pid);
        assertEquals(128 + 15, rest.awaitExit(Timeouts.EXIT), rest.tails());
        TreeFixtures.awaitAllGone(List.of(pid), Timeouts.EXIT);
    }
}
