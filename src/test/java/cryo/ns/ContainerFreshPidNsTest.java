package cryo.ns;

import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
import cryo.testing.Timeouts;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** A container has its own pid namespace already: restart --fresh-pid-ns refuses its image in one line. */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ContainerFreshPidNsTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @Test
    void aContainerImageIsRefusedWithFreshPidNs() {
        Fixtures.assumeRoot();
        Containers.Running c = Containers.start(cleanup, subreaper, tmp, "fresh", false);
        Path image = tmp.resolve("c.img");
        Cryo.checkpoint(cleanup, c.init(), image);
        c.unshare().awaitExit(Timeouts.EXIT);
        subreaper.off();
        Leftovers before = Leftovers.snapshot();
        String line = Cryo.run(cleanup, "restart", "-d", "--fresh-pid-ns", image.toString()).assertOneLineError();
        assertTrue(line.contains("--fresh-pid-ns") && line.contains("container") && line.contains("pid namespace"), line);
        before.assertNone(cleanup, "a refused restart --fresh-pid-ns");
    }
}
