package cryo.timers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * POSIX timers (src/test/c/posix_timers.c, which checks itself): five timers with ids that are not 0..4 — a
 * periodic SIGEV_SIGNAL timer with a sigev value, a periodic SIGEV_THREAD_ID timer aimed at a second thread, a
 * SIGEV_NONE one-shot, a disarmed one and one on the process's CPU clock — come back with the same ids, which
 * the program uses as they are; the periodic ones keep firing with the right siginfo in the right thread; the
 * one-shots have no more time left than the image saved; a periodic timer whose last signal came with 5
 * overruns (timer_getoverrun) still reports them. Checkpointed while both periodic timers' signals
 * were pending (blocked), those signals are the timers' own again after restart (delivered once, re-arming the
 * timer). With --leave-running the original process passes the same checks.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class PosixTimersTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @Test
    void timersComeBackWithTheirIdsAndKeepFiring() {
        run(false, false);
    }

    @Test
    void timersWhoseSignalsWerePendingQueueThemAgain() {
        run(true, false);
    }

    /** Checkpoint reads the timers (and takes their pending signals into the image) without changing the task. */
    @Test
    void leaveRunningLeavesTimersAndTheirPendingSignalsAsTheyWere() {
        run(true, true);
    }

    /**
     * The fixture as a container's init (a pid namespace of its own): the SIGEV_THREAD_ID target and the
     * worker's CPU clock name the worker by its id in the container, which it has again after restart.
     */
    @Test
    void inAContainerTimersNameThreadsByTheirIdsInIt() {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("unshare");
        Path exe = Fixtures.compile(tmp, "posix_timers", Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc u = cleanup.start("unshare", new ProcessBuilder("unshare", "--fork", "--pid", "--mount-proc", exe.toString()));
        u.await("IDS", l -> l.startsWith("IDS "));
        assertEquals(1, u.awaitReady(), "the fixture is the container's init");
        long init = firstChild(u.pid());
        cleanup.foreign(init, t0, "container init");
        Path image = tmp.resolve("container.img");
        Cryo.checkpoint(cleanup, init, image);
        u.awaitExit(Timeouts.EXIT);
        List<PosixTimerRecord> timers = TreeFixtures.withRecords(image, rs -> rs.stream().filter(r -> r instanceof PosixTimerRecord)
                .map(r -> (PosixTimerRecord) r).toList());
        assertEquals(2, timers.get(1).tid(), "T2 signals the worker, thread 2 of the container: " + timers);
        Proc rest = Cryo.startRestart(cleanup, image, init);
        rest.checkOk("check " + timers.get(2).valueNs() + " " + timers.get(4).valueNs() + " " + timers.get(5).valueNs());
        rest.send("quit");
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }

    /** The first child of pid (unshare --fork has one: the namespace's init). */
    private static long firstChild(long pid) {
        try {
            String c = java.nio.file.Files.readString(Path.of("/proc/" + pid + "/task/" + pid + "/children")).trim();
            return Long.parseLong(c.split("\\s+")[0]);
        } catch (java.io.IOException | NumberFormatException e) {
            throw new AssertionError("no child of unshare " + pid + ": " + e);
        }
    }

    /** POSIX_TIMER records that do not fit the process are refused in one line, before anything is created. */
    @Test
    void badTimerRecordsAreRefusedInOneLine() {
        Fixtures.assumeRoot();
        Path exe = Fixtures.compile(tmp, "posix_timers", Fixtures.Build.PIE);
        Proc p = cleanup.start("posix_timers", new ProcessBuilder(exe.toString()));
        assertEquals(p.pid(), p.awaitReady());
        Path good = tmp.resolve("good.img");
        Cryo.checkpoint(cleanup, p.pid(), good);
        p.awaitExit(Timeouts.EXIT);
        Map<String, UnaryOperator<ImageRecord>> variants = new LinkedHashMap<>();
        variants.put("tid", r -> r instanceof PosixTimerRecord t && t.threadTargeted() ? TreeFixtures.with(t, "tid", (int) p.pid() + 1000) : r);
        variants.put("clock", r -> r instanceof PosixTimerRecord t && t.sigevNotify() == PosixTimerRecord.SIGEV_NONE
                ? TreeFixtures.with(t, "clock", cryo.sys.Timers.CLOCK_THREAD_CPUTIME_ID) : r);
        variants.put("notify", r -> r instanceof PosixTimerRecord t && t.threadTargeted() ? TreeFixtures.with(t, "sigevNotify", 7) : r);
        variants.put("id", r -> r instanceof PosixTimerRecord t && t.sigevNotify() == PosixTimerRecord.SIGEV_NONE ? TreeFixtures.with(t, "id", 0) : r);
        for (var v : variants.entrySet()) {
            Path bad = tmp.resolve("bad-" + v.getKey() + ".img");
            TreeFixtures.rewrite(good, bad, rs -> rs.stream().map(v.getValue()).toList());
            Leftovers before = Leftovers.snapshot();
            String line = Cryo.restartExpectingFailure(cleanup, bad, p.pid()).assertOneLineError();
            assertTrue(line.contains("POSIX_TIMER") && line.contains(v.getKey()), "the error names the record and '" + v.getKey() + "': " + line);
            assertFalse(Procfs.exists(p.pid()), "nothing restored after a bad '" + v.getKey() + "'");
            before.assertNone(cleanup, "restart of a POSIX_TIMER with a bad " + v.getKey());
        }
    }

    private void run(boolean hold, boolean leaveRunning) {
        Fixtures.assumeRoot();
        Path exe = Fixtures.compile(tmp, "posix_timers", Fixtures.Build.PIE);
        Proc p = cleanup.start("posix_timers", new ProcessBuilder(exe.toString()));
        List<Integer> ids = Arrays.stream(p.await("IDS", l -> l.startsWith("IDS ")).substring(4).trim().split(" ")).map(Integer::parseInt).toList();
        assertEquals(p.pid(), p.awaitReady());
        if (hold) {
            p.send("hold");
            p.await("HELD", l -> l.equals("HELD"));
        }
        Path image = tmp.resolve("timers.img");
        if (leaveRunning) {
            Cryo.checkpoint(cleanup, p.pid(), image, "--leave-running");
            Procfs.assertRunningUntraced(p.pid(), "the fixture after --leave-running");
        } else {
            Cryo.checkpoint(cleanup, p.pid(), image);
            p.awaitExit(Timeouts.EXIT);
        }
        List<PosixTimerRecord> timers = TreeFixtures.withRecords(image, rs -> rs.stream().filter(r -> r instanceof PosixTimerRecord)
                .map(r -> (PosixTimerRecord) r).toList());
        assertEquals(ids, timers.stream().map(PosixTimerRecord::id).toList(), "the image holds the timers by id: " + timers);
        PosixTimerRecord t1 = timers.get(0), t2 = timers.get(1), t3 = timers.get(2), t5 = timers.get(4), t6 = timers.get(5);
        assertEquals(5, t6.overrun(), "T6's last signal had 5 overruns");
        assertEquals(0x1234, t1.sigevValue(), "T1's sigev value");
        assertTrue(t2.threadTargeted() && t2.tid() != p.pid(), "T2 signals the worker thread: " + t2);
        assertEquals(PosixTimerRecord.SIGEV_NONE, t3.sigevNotify());
        if (hold) assertTrue(t1.pending() && t2.pending(), "both periodic timers' signals were pending: " + timers);
        Proc rest = leaveRunning ? p : Cryo.startRestart(cleanup, image, p.pid());
        rest.checkOk("check " + t3.valueNs() + " " + t5.valueNs() + " " + t6.valueNs());
        rest.send("quit");
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }
}
