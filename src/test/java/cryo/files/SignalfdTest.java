package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Signalfds (src/test/c/signalfd.c, which checks itself): after restart each reads the signals that were
 * pending at checkpoint, for the process (a standard signal, a realtime one queued twice with its values) and
 * for the main thread only, through the same masks and flags. An epoll watching a signalfd (added at restart
 * by a process of the tree itself, EpollSignalfds) keeps its item's mask and data, reports the signalfd ready
 * again for the signals pending at checkpoint and wakes for a signal sent after restart; also when a child
 * shares the epoll and the signalfd (the parent, lowest pid, adds the item, once), and for a signal pending
 * for a thread alone (that thread adds the item). An item on a signalfd that
 * no process holds at the item's number is refused, and such an image is one line of error.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class SignalfdTest {
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

    /** The fixture (and its child with "fork"), READY. */
    private PipeFixtureTest.Started start(String... args) {
        Path exe = Files.isExecutable(tmp.resolve("signalfd")) ? tmp.resolve("signalfd") : Fixtures.compile(tmp, "signalfd", Fixtures.Build.PIE);
        List<String> cmd = new ArrayList<>(List.of(exe.toString()));
        cmd.addAll(List.of(args));
        Instant t0 = Instant.now();
        Proc p = cleanup.start("signalfd", new ProcessBuilder(cmd));
        assertEquals(p.pid(), p.awaitReady());
        List<Long> children = new ArrayList<>(TreeFixtures.children(p.pid()));
        subreaper.foreign(cleanup, children, t0, "signalfd child");
        return new PipeFixtureTest.Started(p, List.of("signalfd"), List.of(0), children, t0);
    }

    /** "wait" blocks in epoll_wait until SIGUSR1, sent while it waits or just before: either way it wakes. */
    private static void wakesOnANewSignal(Proc p, long pid) {
        p.send("wait");
        assertTrue(Os.kill(pid, 10), "kill(SIGUSR1) of " + pid);
        String l = p.await("the answer to 'wait'", x -> x.equals("OK") || x.startsWith("FAIL"));
        assertEquals("OK", l, "after 'wait'");
    }

    private static void quit(Proc p) {
        p.send("quit");
        assertEquals(0, p.awaitExit(Timeouts.EXIT), "the fixture exits 0 after quit");
    }

    private static List<EpollTargetRecord> items(Path image) {
        return TreeFixtures.withRecords(image, rs -> rs.stream().filter(r -> r instanceof EpollTargetRecord).map(r -> (EpollTargetRecord) r).toList());
    }

    @Test
    void anEpollWatchingASignalfdReportsItReadyAfterRestartAndWakesOnANewSignal() {
        PipeFixtureTest.Started s = start("epoll");
        Path image = tmp.resolve("epoll.img");
        List<Long> pids = PipeFixtureTest.checkpointAndAwaitGone(cleanup, s, image);
        assertEquals(1, items(image).size(), "EPOLL_TARGET records: " + items(image));
        Proc rest = PipeFixtureTest.restart(cleanup, subreaper, image, pids);
        rest.checkOk();   // mask and data, the epoll reports the signalfd ready, read() gives the pending signals
        wakesOnANewSignal(rest, s.pid());
        quit(rest);
    }

    @Test
    void anEpollSharedWithAChildIsAddedOnceByTheParent() {
        PipeFixtureTest.Started s = start("fork");
        assertEquals(1, s.children().size(), "the fixture's child");
        Path image = tmp.resolve("fork.img");
        List<Long> pids = PipeFixtureTest.checkpointAndAwaitGone(cleanup, s, image);
        Proc rest = PipeFixtureTest.restart(cleanup, subreaper, image, pids);
        rest.checkOk();
        wakesOnANewSignal(rest, s.pid());
        Procfs.assertRunningUntraced(s.children().getFirst(), "the restored child");
        quit(rest);
    }

    /** The item is added in the thread the signal is pending for: polled for the leader, it would not be ready. */
    @Test
    void aSignalPendingForAThreadAloneIsReportedByItsEpollAfterRestart() {
        PipeFixtureTest.Started s = start("thread");
        Path image = tmp.resolve("thread.img");
        List<Long> pids = PipeFixtureTest.checkpointAndAwaitGone(cleanup, s, image);
        Proc rest = PipeFixtureTest.restart(cleanup, subreaper, image, pids);
        rest.checkOk("tcheck");
        rest.checkOk();
        quit(rest);
    }

    @Test
    void leaveRunningLeavesTheEpollOfTheOriginalWorking() {
        PipeFixtureTest.Started s = start("epoll");
        Proc p = s.proc();
        Cryo.checkpoint(cleanup, p.pid(), tmp.resolve("leave.img"), "--leave-running");
        Procfs.assertRunningUntraced(p.pid(), "the fixture after checkpoint --leave-running");
        p.checkOk();
        wakesOnANewSignal(p, p.pid());
        quit(p);
    }

    /** The signalfd was moved to another number after EPOLL_CTL_ADD: no task has it at the item's number. */
    @Test
    void anItemOnASignalfdNoProcessHoldsAtItsNumberIsRefusedInOneLine() {
        PipeFixtureTest.Started s = start("moved");
        Cryo.Result res = Cryo.run(cleanup, "checkpoint", Long.toString(s.pid()), "-o", tmp.resolve("no.img").toString());
        String line = res.assertOneLineError();
        assertTrue(line.contains("task " + s.pid() + ": fd ") && line.contains("a signalfd") && line.contains("holds both"), res::describe);
        Procfs.assertRunningUntraced(s.pid(), "the fixture after the refused checkpoint");
        s.proc().checkOk();
        quit(s.proc());
    }

    /** An image whose item on the signalfd names a number no fd has: one line, nothing left behind. */
    @Test
    void anImageWithAnItemOnASignalfdNoProcessCanAddIsOneLineOfError() {
        PipeFixtureTest.Started s = start("epoll");
        Path good = tmp.resolve("good.img"), bad = tmp.resolve("bad.img");
        List<Long> pids = PipeFixtureTest.checkpointAndAwaitGone(cleanup, s, good);
        TreeFixtures.rewrite(good, bad, rs -> {
            List<ImageRecord> out = new ArrayList<>(rs);
            for (int i = 0; i < out.size(); i++) if (out.get(i) instanceof EpollTargetRecord t) out.set(i, TreeFixtures.with(t, "tfd", 99));
            return out;
        });
        subreaper.off();   // an orphan left by a failed restart must show up as a leftover
        TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(60));
        Leftovers before = Leftovers.snapshot();
        String line = Cryo.restartExpectingFailure(cleanup, bad, pids.getFirst()).assertOneLineError();
        assertTrue(line.contains("EPOLL_TARGET") && line.contains("signalfd") && line.contains("fd 99"), line);
        for (long p : pids) assertFalse(Procfs.exists(p), "the failed restart left pid " + p);
        before.assertNone(cleanup, "the failed restart");
    }

    @Test
    void signalsPendingAtCheckpointAreReadThroughTheRestoredSignalfds() {
        PipeFixtureTest.Started s = start();
        Path image = tmp.resolve("signalfd.img");
        List<Long> pids = PipeFixtureTest.checkpointAndAwaitGone(cleanup, s, image);
        List<SignalfdRecord> fds = TreeFixtures.withRecords(image, rs -> rs.stream().filter(r -> r instanceof SignalfdRecord)
                .map(r -> (SignalfdRecord) r).toList());
        assertEquals(2, fds.size(), "SIGNALFD records: " + fds);
        assertEquals(1L << 11, fds.get(1).sigmask(), "T reads SIGUSR2 (bit 11)");
        Proc rest = PipeFixtureTest.restart(cleanup, subreaper, image, pids);
        rest.checkOk();
        quit(rest);
    }
}
