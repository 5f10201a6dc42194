package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Os;
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
 * for the main thread only, through the same masks and flags. An epoll watching a signalfd (added at restart
 * by the process itself, EpollSignalfds) reports it ready again for the signals pending at checkpoint, and
 * wakes for a signal sent after restart.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class SignalfdTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @Test
    void anEpollWatchingASignalfdReportsItReadyAfterRestartAndWakesOnANewSignal() {
        Fixtures.assumeRoot();
        Path exe = Fixtures.compile(tmp, "signalfd", Fixtures.Build.PIE);
        Proc p = cleanup.start("signalfd", new ProcessBuilder(exe.toString(), "epoll"));
        assertEquals(p.pid(), p.awaitReady());
        Path image = tmp.resolve("epoll.img");
        Cryo.checkpoint(cleanup, p.pid(), image);
        p.awaitExit(Timeouts.EXIT);
        List<EpollTargetRecord> items = TreeFixtures.withRecords(image, rs -> rs.stream().filter(r -> r instanceof EpollTargetRecord)
                .map(r -> (EpollTargetRecord) r).toList());
        assertEquals(1, items.size(), "EPOLL_TARGET records: " + items);
        Proc rest = Cryo.startRestart(cleanup, image, p.pid());
        rest.checkOk();   // the epoll reports the signalfd ready, read() gives the pending signals
        wakesOnANewSignal(rest, p.pid());
        rest.send("quit");
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }

    @Test
    void leaveRunningLeavesTheEpollOfTheOriginalWorking() {
        Fixtures.assumeRoot();
        Path exe = Fixtures.compile(tmp, "signalfd", Fixtures.Build.PIE);
        Proc p = cleanup.start("signalfd", new ProcessBuilder(exe.toString(), "epoll"));
        assertEquals(p.pid(), p.awaitReady());
        Cryo.checkpoint(cleanup, p.pid(), tmp.resolve("leave.img"), "--leave-running");
        Procfs.assertRunningUntraced(p.pid(), "the fixture after checkpoint --leave-running");
        p.checkOk();
        wakesOnANewSignal(p, p.pid());
        p.send("quit");
        assertEquals(0, p.awaitExit(Timeouts.EXIT));
    }

    /** "wait" blocks in epoll_wait until SIGUSR1, sent while it waits or just before: either way it wakes. */
    private static void wakesOnANewSignal(Proc p, long pid) {
        p.send("wait");
        assertTrue(Os.kill(pid, 10), "kill(SIGUSR1) of " + pid);
        String l = p.await("the answer to 'wait'", x -> x.equals("OK") || x.startsWith("FAIL"));
        assertEquals("OK", l, "after 'wait'");
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
