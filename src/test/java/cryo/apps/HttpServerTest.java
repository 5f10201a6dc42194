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
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * HTTP servers with keep-alive: Python's {@code python3 -m http.server -p HTTP/1.1} (a ThreadingHTTPServer: the main
 * thread polls the listening socket, a thread per connection blocks in recv) and a Node.js {@code http} server (libuv's
 * epoll; keepAliveTimeout off so that an idle connection is not closed by the server while the tree is away). A
 * keep-alive client outside the tree ({@code http.client.HTTPConnection}, reconnecting forbidden) makes requests on
 * its one connection before the checkpoint and after the restart; a new client is served after the restart too.
 * With --leave-running, the tree serves on the same way, and the image restarted after the original is stopped
 * serves new clients.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class HttpServerTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final String HOST = "127.0.0.1";

    /** Node: answers every path with "node PATH N" (N counts the requests it served). */
    static final String NODE = """
            const http = require('http');
            let n = 0;
            const srv = http.createServer((req, res) => {
              n++;
              const body = 'node ' + req.url + ' ' + n + '\\n';
              res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
              res.end(body);
            });
            srv.keepAliveTimeout = 0;
            srv.listen(0, process.argv[2], () => console.log('READY ' + process.pid + ' ' + srv.address().port));
            """;

    /** The keep-alive client: one connection, never reopened; "get PATH" prints status, local port and body. */
    static final String CLIENT = """
            import http.client, sys
            c = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=60)
            c.auto_open = 0
            c.connect()
            print('CONNECTED', c.sock.getsockname()[1], flush=True)
            for line in sys.stdin:
                w = line.split()
                if w[0] == 'quit':
                    break
                try:
                    c.request('GET', w[1])
                    r = c.getresponse()
                    body = r.read().decode('latin-1').strip()
                    local = c.sock.getsockname()[1] if c.sock else 'closed'
                    print('RESPONSE %d %s %s' % (r.status, local, body), flush=True)
                except Exception as e:
                    print('FAIL GET %s: %r' % (w[1], e), flush=True)
            c.close()
            print('BYE', flush=True)
            """;

    static final Pattern SERVING = Pattern.compile("Serving HTTP on \\S+ port (\\d+) .*");

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"python, kill", "python, leave-running", "node, kill", "node, leave-running"})
    void keepAliveClientGoesOnAfterRestart(String server, String mode) throws IOException {
        Path python = Fixtures.python();
        Path dir = Files.createDirectories(tmp.resolve("www"));
        Files.writeString(dir.resolve("a.txt"), "file a\n");
        Files.writeString(dir.resolve("b.txt"), "file b\n");
        Proc p;
        int port;
        if (server.equals("python")) {
            ProcessBuilder pb = new ProcessBuilder(python.toString(), "-m", "http.server", "-b", HOST, "-d", dir.toString(),
                    "-p", "HTTP/1.1", "0");
            pb.environment().put("PYTHONUNBUFFERED", "1");
            p = cleanup.start("http.server", pb);
            Matcher m = SERVING.matcher(p.await("Serving HTTP", l -> SERVING.matcher(l).matches()));
            assertTrue(m.matches());
            port = Integer.parseInt(m.group(1));
        } else {
            Path node = Programs.need("node", "nodejs");
            Path js = Files.writeString(tmp.resolve("server.js"), NODE);
            p = cleanup.start("node http", new ProcessBuilder(node.toString(), js.toString(), HOST));
            String[] ready = p.await("READY", l -> l.startsWith("READY ")).split(" ");
            assertEquals(Long.toString(p.pid()), ready[1]);
            port = Integer.parseInt(ready[2]);
        }
        assertEquals(List.of(), List.copyOf(TreeFixtures.descendants(p.pid())), "the server is one process");

        Path clientPy = Files.writeString(tmp.resolve("client.py"), CLIENT);
        Proc client = cleanup.start("keep-alive client", new ProcessBuilder(python.toString(), clientPy.toString(), HOST,
                Integer.toString(port)));
        String local = client.await("CONNECTED", l -> l.startsWith("CONNECTED ")).split(" ")[1];
        String expectA = answer(server, "/a.txt", 1, "file a");
        assertEquals("RESPONSE 200 " + local + " " + expectA, get(client, "/a.txt"));
        assertEquals("RESPONSE 200 " + local + " " + answer(server, "/b.txt", 2, "file b"), get(client, "/b.txt"));

        Path image = tmp.resolve("server.img");
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
        assertEquals("RESPONSE 200 " + local + " " + answer(server, "/a.txt", 3, "file a"), get(client, "/a.txt"),
                mode + ": the keep-alive connection goes on");
        Net.Response fresh = Net.get(HOST, port, "/b.txt");
        assertEquals(200, fresh.status(), fresh.text());
        assertEquals(answer(server, "/b.txt", 4, "file b"), fresh.text().strip(), mode + ": a new client is served");
        assertEquals("RESPONSE 200 " + local + " " + answer(server, "/a.txt", 5, "file a"), get(client, "/a.txt"),
                mode + ": the keep-alive connection goes on after a new client");
        client.send("quit");
        client.await("BYE", l -> l.equals("BYE"));
        assertEquals(0, client.awaitExit(Timeouts.EXIT), client.tails());
        stop(serving, p.pid(), true);

        if (leave) {
            Proc restored = Net.restart(cleanup, image, p.pid());
            Net.Response again = Net.get(HOST, port, "/b.txt");
            assertEquals(200, again.status(), again.text());
            assertEquals(answer(server, "/b.txt", 3, "file b"), again.text().strip(),
                    "the image restarted after the original serves new clients");
            stop(restored, p.pid(), false);
        }
    }

    /** What the server answers to the n-th request for path (Node counts them; http.server serves the file). */
    private static String answer(String server, String path, int n, String file) {
        return server.equals("node") ? "node " + path + " " + n : file;
    }

    private static String get(Proc client, String path) {
        client.send("get " + path);
        String l = client.await("the answer to GET " + path, s -> s.startsWith("RESPONSE ") || s.startsWith("FAIL"));
        if (l.startsWith("FAIL")) throw new AssertionError(l + "\n" + client.tails());
        return l;
    }

    /**
     * SIGTERM to the server (restored or not), which dies of it; its tree is gone. Checked: no Python exception on
     * its stderr (not for the image restarted after --leave-running, whose held connection's client is gone).
     */
    private static void stop(Proc serving, long pid, boolean noErrors) {
        Net.terminate(pid);
        serving.awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(List.of(pid), Timeouts.EXIT);
        if (!noErrors) return;
        serving.err().awaitEofQuietly(Duration.ofSeconds(5));
        String err = String.join("\n", serving.err().all());
        assertFalse(err.contains("Traceback"), "no exception in the server:\n" + err);
    }
}
