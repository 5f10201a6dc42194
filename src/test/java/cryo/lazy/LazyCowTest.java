package cryo.lazy;

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
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * `restart --lazy` of a parent and its child sharing pages copy-on-write (src/test/c/cow.c): what the child
 * inherits is in its parent before the fork (the parent is eager, so are the child's inherited VMAs), and
 * both find every page as it was, in the lazy phase and after it.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class LazyCowTest {
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

    @Test
    void copyOnWritePairChecksItsPages() {
        Path exe = Fixtures.compile(tmp, "cow", Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc orig = cleanup.start("cow", new ProcessBuilder(exe.toString()));
        String[] ready = orig.await("READY", l -> l.startsWith("READY ") || l.startsWith("ERROR")).split(" ");
        assertEquals("READY", ready[0], String.join(" ", ready));
        long parent = Long.parseLong(ready[1]), child = Long.parseLong(ready[2]);
        subreaper.foreign(cleanup, List.of(child), t0, "cow child");
        Path image = tmp.resolve("cow.img");
        Cryo.checkpoint(cleanup, parent, image);
        orig.awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(List.of(parent, child), Duration.ofSeconds(30));

        Instant t1 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, parent, "--lazy");
        subreaper.foreign(cleanup, List.of(parent, child), t1, "restored cow");
        rest.send("check");
        assertEquals("OK", rest.await("OK", l -> l.equals("OK") || l.equals("FAILED") || l.startsWith("ERROR")), rest.tails());
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (Procfs.tracerPid(parent) != 0 || Procfs.tracerPid(child) != 0) {
            if (System.nanoTime() > deadline) throw new AssertionError("still traced after the fill");
            Procfs.sleep(Duration.ofMillis(20));
        }
        rest.send("check");
        assertEquals("OK", rest.await("OK", l -> l.equals("OK") || l.equals("FAILED")));
        rest.send("quit");
        rest.await("BYE", "BYE"::equals);
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }
}
