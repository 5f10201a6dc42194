package cryo.inet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Timeouts;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Both ends of a TCP connection in the tree (src/test/c/tcp_pair.c): unread data in both receive queues and
 * data never sent in one send queue (the peer's receive window is full). After checkpoint, kill and restart
 * (or --leave-running) both sides read every byte, checked, and go on exchanging.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class TcpBothEndsTest {
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
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"4 kill", "6 kill", "4 leave-running"})
    void everyQueueComesBack(String how) {
        Path exe = Fixtures.compile(tmp, "tcp_pair", Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc p = cleanup.start("tcp_pair", new ProcessBuilder(exe.toString(), how.split(" ")[0]));
        String[] ready = p.await("READY", l -> l.startsWith("READY ") || l.startsWith("FAIL")).split(" ");
        assertEquals("READY", ready[0], p.tails());
        long written = Long.parseLong(ready[2]);
        assertTrue(Long.parseLong(ready[3]) > 0, "A has unread data: " + String.join(" ", ready));
        assertEquals(1000, Long.parseLong(ready[4]), "B has A's 1000 bytes unread");
        assertTrue(Long.parseLong(ready[6]) > 0, "B has data never sent: " + String.join(" ", ready));
        List<Long> kids = new ArrayList<>(TreeFixtures.descendants(p.pid()));
        assertEquals(1, kids.size(), "the child B: " + kids);
        subreaper.foreign(cleanup, kids, t0, "B");
        Path image = tmp.resolve("pair.img");
        Proc r = p;
        if (how.endsWith("kill")) {
            Cryo.checkpoint(cleanup, p.pid(), image);
            p.awaitExit(Timeouts.EXIT);
            List<Long> pids = new ArrayList<>(List.of(p.pid()));
            pids.addAll(kids);
            TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(30));
            Instant t1 = Instant.now();
            r = Cryo.startRestart(cleanup, image, p.pid());
            subreaper.foreign(cleanup, kids, t1, "restored B");
        } else {
            Cryo.checkpoint(cleanup, p.pid(), image, "--leave-running");
        }
        r.send("go");
        String end = r.await("OK", l -> l.startsWith("OK ") || l.startsWith("FAIL"));
        assertEquals("OK " + written, end, r.tails());
        assertEquals(0, r.awaitExit(Timeouts.EXIT), r.tails());
    }
}
