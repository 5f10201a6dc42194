package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Signalfds (src/test/c/signalfd.c, which checks itself): after restart each reads the signals that were
 * pending at checkpoint, for the process (a standard signal, a realtime one queued twice with its values) and
 * for the main thread only, through the same masks and flags. An epoll watching a signalfd is refused: an
 * epoll polls a signalfd for the signals of the task that added it, and restart adds epoll items from cryo.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class SignalfdTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @Test
    void anEpollWatchingASignalfdIsRefused() {
        Fixtures.assumeRoot();
        Path exe = Fixtures.compile(tmp, "signalfd", Fixtures.Build.PIE);
        Proc p = cleanup.start("signalfd", new ProcessBuilder(exe.toString(), "epoll"));
        assertEquals(p.pid(), p.awaitReady());
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(p.pid()), "-o", tmp.resolve("no.img").toString()).assertOneLineError();
        assertTrue(line.contains("epoll") && line.contains("signalfd") && line.contains("fd "), "the refusal names the epoll and the signalfd: " + line);
        Procfs.assertRunningUntraced(p.pid(), "the fixture after the refused checkpoint");
        p.checkOk();
        p.send("quit");
        assertEquals(0, p.awaitExit(Timeouts.EXIT));
    }

    @Test
    void signalsPendingAtCheckpointAreReadThroughTheRestoredSignalfds() {
        Fixtures.assumeRoot();
        Path exe = Fixtures.compile(tmp, "signalfd", Fixtures.Build.PIE);
        Proc p = cleanup.start("signalfd", new ProcessBuilder(exe.toString()));
        assertEquals(p.pid(), p.awaitReady());
        Path image = tmp.resolve("signalfd.img");
        Cryo.checkpoint(cleanup, p.pid(), image);
        p.awaitExit(Timeouts.EXIT);
        List<SignalfdRecord> fds = TreeFixtures.withRecords(image, rs -> rs.stream().filter(r -> r instanceof SignalfdRecord)
                .map(r -> (SignalfdRecord) r).toList());
        assertEquals(2, fds.size(), "SIGNALFD records: " + fds);
        assertEquals(1L << 11, fds.get(1).sigmask(), "T reads SIGUSR2 (bit 11)");
        Proc rest = Cryo.startRestart(cleanup, image, p.pid());
        rest.checkOk();
        rest.send("quit");
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }
}
