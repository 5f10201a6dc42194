package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.sys.Timers;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
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
 * Timerfds (src/test/c/timerfd.c, which checks itself): a relative periodic timer whose ticks piled up unread
 * reads at least the ticks the image saved and fires again; absolute timers (CLOCK_REALTIME with
 * TFD_TIMER_CANCEL_ON_SET, CLOCK_MONOTONIC periodic) keep their absolute expiry although the tree was gone for
 * a second; a relative one-shot timer has no more time left than it had; a disarmed one stays disarmed; clocks
 * and O_NONBLOCK are kept; with --leave-running the original passes the same checks. An image with a timerfd on a clock timerfds do not have is refused in one line.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class TimerfdTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    private Path checkpointFixture() {
        Proc p = startFixture();
        Path image = tmp.resolve("timerfd.img");
        Cryo.checkpoint(cleanup, p.pid(), image);
        p.awaitExit(Timeouts.EXIT);
        return image;
    }

    private Proc startFixture() {
        Fixtures.assumeRoot();
        Path exe = Fixtures.compile(tmp, "timerfd", Fixtures.Build.PIE);
        Proc p = cleanup.start("timerfd", new ProcessBuilder(exe.toString()));
        assertEquals(p.pid(), p.awaitReady());
        return p;
    }

    /** Reading a timerfd through a duplicate (timerfd_gettime, fdinfo) changes nothing the task sees. */
    @Test
    void leaveRunningLeavesTheTimerfdsAsTheyWere() {
        Proc p = startFixture();
        Path image = tmp.resolve("timerfd.img");
        Cryo.checkpoint(cleanup, p.pid(), image, "--leave-running");
        Procfs.assertRunningUntraced(p.pid(), "the fixture after --leave-running");
        List<TimerfdRecord> ts = TreeFixtures.withRecords(image, TimerfdTest::timerfds);
        p.checkOk("check " + on(ts, Timers.CLOCK_MONOTONIC, 5_000_000L).ticks() + " " + on(ts, Timers.CLOCK_BOOTTIME, 0).valueNs());
        p.send("quit");
        assertEquals(0, p.awaitExit(Timeouts.EXIT));
    }

    private static List<TimerfdRecord> timerfds(List<ImageRecord> rs) {
        return rs.stream().filter(r -> r instanceof TimerfdRecord).map(r -> (TimerfdRecord) r).toList();
    }

    private static TimerfdRecord on(List<TimerfdRecord> ts, int clock, long interval) {
        return ts.stream().filter(t -> t.clock() == clock && t.intervalNs() == interval).findFirst()
                .orElseThrow(() -> new AssertionError("no TIMERFD on clock " + clock + " with interval " + interval + ": " + ts));
    }

    @Test
    void everySortOfTimerfdComesBackAndFiresOn() throws InterruptedException {
        Path image = checkpointFixture();
        List<TimerfdRecord> ts = TreeFixtures.withRecords(image, TimerfdTest::timerfds);
        assertEquals(5, ts.size(), "TIMERFD records: " + ts);
        TimerfdRecord a = on(ts, Timers.CLOCK_MONOTONIC, 5_000_000L), c = on(ts, Timers.CLOCK_BOOTTIME, 0);
        assertTrue(a.ticks() >= 1, "A expired before READY: its ticks are in the image: " + a);
        assertTrue(on(ts, Timers.CLOCK_REALTIME, 0).absolute(), "B is saved as absolute");
        // The tree is gone for a second: a relative restore of an absolute timer would move its expiry that much.
        Thread.sleep(1000);
        Proc rest = Cryo.startRestart(cleanup, image, TreeFixtures.tree(image).root().pid());
        rest.checkOk("check " + a.ticks() + " " + c.valueNs());
        rest.send("quit");
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }

    @Test
    void aTimerfdOnAnUnknownClockIsRefusedInOneLine() {
        Path good = checkpointFixture();
        long pid = TreeFixtures.tree(good).root().pid();
        Path bad = tmp.resolve("bad.img");
        TreeFixtures.rewrite(good, bad, rs -> rs.stream()
                .map(r -> r instanceof TimerfdRecord t && t.clock() == Timers.CLOCK_BOOTTIME ? TreeFixtures.with(t, "clock", Timers.CLOCK_THREAD_CPUTIME_ID) : r)
                .toList());
        Leftovers before = Leftovers.snapshot();
        String line = Cryo.restartExpectingFailure(cleanup, bad, pid).assertOneLineError();
        assertTrue(line.contains("TIMERFD") && line.contains("clock"), "the error names the record and field: " + line);
        assertFalse(Procfs.exists(pid), "nothing restored");
        before.assertNone(cleanup, "restart of a timerfd on clock 3");
    }
}
