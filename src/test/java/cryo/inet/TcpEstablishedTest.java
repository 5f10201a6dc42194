package cryo.inet;

import static org.junit.jupiter.api.Assertions.assertEquals;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A server in the tree with one established connection to a client outside it (a Python process of the
 * test's own). With three requests unread in the server's receive queue it is checkpointed: killed and
 * restarted, or left running. The client keeps its connection (no reconnect), gets every answer in order and
 * sees no error; the connection's options are what they were.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class TcpEstablishedTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("ss");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"4 kill", "6 kill", "64 kill", "4 leave-running", "6 leave-running"})
    void clientOutsideKeepsItsConnection(String how) throws Exception {
        String family = how.split(" ")[0];
        boolean leave = how.endsWith("leave-running");
        Path python = Fixtures.python();
        Path server = TcpPrograms.write(tmp, "server.py", TcpPrograms.SERVER);
        Path client = TcpPrograms.write(tmp, "client.py", TcpPrograms.CLIENT);
        Proc s = cleanup.start("server", new ProcessBuilder(python.toString(), server.toString(), family));
        String port = s.await("PORT", l -> l.startsWith("PORT ")).split(" ")[1];
        Proc c = cleanup.start("client", new ProcessBuilder(python.toString(), client.toString(), family, port));
        String opts1 = c.await("OPTS1", l -> l.startsWith("OPTS1 ") || l.startsWith("ERROR"));
        c.await("SENT", l -> l.equals("SENT"));
        s.await("PAUSED", l -> l.equals("PAUSED"));
        TcpPrograms.awaitClientsAcknowledged(port);

        Path image = tmp.resolve("server.img");
        Proc running = s;
        if (leave) {
            Cryo.checkpoint(cleanup, s.pid(), image, "--leave-running");
        } else {
            Cryo.checkpoint(cleanup, s.pid(), image);
            s.awaitExit(Timeouts.EXIT);
            running = Cryo.startRestart(cleanup, image, s.pid());
        }
        running.send("go");
        String end = c.await("DONE", l -> l.equals("DONE") || l.startsWith("ERROR") || l.startsWith("WRONG"));
        assertEquals("DONE", end, "the client goes on in its connection\n" + c.tails() + running.tails());
        String opts2 = c.out().all().stream().filter(l -> l.startsWith("OPTS2 ")).findFirst().orElse("OPTS2 none");
        assertEquals(opts1.substring(6), opts2.substring(6), "the connection's options as the server sees them, before and after");
        assertEquals(0, c.awaitExit(Timeouts.EXIT), c.tails());
        running.await("EOF", l -> l.equals("EOF"));
        assertEquals(0, running.awaitExit(Timeouts.EXIT), running.tails());
    }
}
