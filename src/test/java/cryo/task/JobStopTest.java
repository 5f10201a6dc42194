package cryo.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
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
 * Processes stopped by job control (src/test/c/jobstop.c: a child stops itself with SIGTSTP or SIGSTOP in a
 * process group of its own, its parent reports each change waitpid(WUNTRACED|WCONTINUED) gives). A checkpoint
 * records the stop (JOB_STOP); --leave-running leaves the child stopped without telling the parent anything;
 * after restart the child is stopped again by the same signal before it runs, the restored parent sees that
 * stop, and SIGCONT lets the child do its work. A multi-threaded child has every thread stopped.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class JobStopTest {
    private static final int SIGSTOP = 19, SIGTSTP = 20;

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

    record Started(Proc parent, long child) {
        List<Long> all() {
            return List.of(parent.pid(), child);
        }
    }

    private Started start(String signal, int threads) {
        Path exe = Fixtures.compile(tmp, "jobstop", Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc p = cleanup.start("jobstop", new ProcessBuilder(exe.toString(), signal, Integer.toString(threads)));
        long child = Long.parseLong(p.await("CHILD", l -> l.startsWith("CHILD ")).split(" ")[1]);
        subreaper.foreign(cleanup, List.of(child), t0, "stopped child");
        int sig = signal.equals("STOP") ? SIGSTOP : SIGTSTP;
        assertEquals("STOPPED " + child + " " + sig, p.await("STOPPED", l -> l.startsWith("STOPPED ")), "the parent saw the stop");
        awaitAllStopped(child, threads + 1);
        return new Started(p, child);
    }

    /** Every thread of pid is in a group stop (state T), untraced. */
    private static void awaitAllStopped(long pid, int threads) {
        long deadline = System.nanoTime() + Timeouts.EXIT.toNanos();
        while (true) {
            var tids = TreeFixtures.tids(pid);
            boolean all = tids.size() == threads && Procfs.tracerPid(pid) == 0
                    && tids.stream().allMatch(t -> threadState(pid, t) == 'T');
            if (all) return;
            if (System.nanoTime() > deadline) {
                StringBuilder sb = new StringBuilder();
                for (long t : tids) sb.append(' ').append(t).append('=').append(threadState(pid, t));
                throw new AssertionError("process " + pid + " is not stopped with " + threads + " threads, tracer " + Procfs.tracerPid(pid) + ":" + sb);
            }
            Procfs.sleep(Duration.ofMillis(10));
        }
    }

    private static char threadState(long pid, long tid) {
        try {
            String s = Procfs.read(Path.of("/proc/" + pid + "/task/" + tid + "/stat"));
            return s.charAt(s.lastIndexOf(')') + 2);
        } catch (java.io.IOException e) {
            return '?';
        }
    }

    /** SIGCONT to the child: it prints RESUMED and exits 7; its parent reports CONTINUED then EXITED, and no stop. */
    private static void continueChild(Proc out, long child) {
        assertTrue(Os.kill(child, Os.SIGCONT));
        List<String> seen = new ArrayList<>();
        String l;
        do {
            l = out.await("EXITED", x -> true);
            seen.add(l);
        } while (!l.startsWith("EXITED "));
        assertTrue(seen.contains("RESUMED " + child), () -> "the child ran on: " + seen);
        assertTrue(seen.contains("CONTINUED " + child), () -> "the parent saw it continued: " + seen);
        assertEquals("EXITED " + child + " 7", seen.getLast());
        assertFalse(seen.stream().anyMatch(x -> x.startsWith("STOPPED")), () -> "no other stop reported: " + seen);
    }

    private Path checkpoint(Started s, String name, int signal) {
        Path image = tmp.resolve(name + ".img");
        Cryo.checkpoint(cleanup, s.parent().pid(), image);
        String show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        assertTrue(show.lines().anyMatch(l -> l.matches("JOB_STOP +pid=" + s.child() + " signal=" + signal + " terminal=false")),
                () -> "cryo show has the child's JOB_STOP:\n" + show);
        assertEquals(1, show.split("JOB_STOP", -1).length - 1, "only the child was stopped");
        s.parent().awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(s.all(), Duration.ofSeconds(30));
        return image;
    }

    /** cryo restart in the foreground; returns it once the parent runs untraced as its child. */
    private Proc restart(Started s, Path image) {
        Instant t0 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, s.parent().pid());
        subreaper.foreign(cleanup, List.of(s.child()), t0, "restored child");
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (!(Procfs.alive(s.parent().pid()) && Procfs.ppid(s.parent().pid()) == rest.pid() && Procfs.tracerPid(s.parent().pid()) == 0)) {
            if (!rest.isAlive()) throw new AssertionError("cryo restart ended before the parent ran:\n" + rest.tails());
            if (System.nanoTime() > deadline) throw new AssertionError("the parent was not restored in time:\n" + rest.tails());
            Procfs.sleep(Duration.ofMillis(10));
        }
        return rest;
    }

    @Test
    void aChildStoppedBySigtstpComesBackStoppedAndItsParentSeesTheStop() {
        Started s = start("TSTP", 0);
        Path image = checkpoint(s, "tstp", SIGTSTP);
        Proc rest = restart(s, image);
        assertEquals("STOPPED " + s.child() + " " + SIGTSTP, rest.await("STOPPED", l -> l.startsWith("STOPPED ") || l.startsWith("RESUMED")),
                "the restored parent sees the child stop again, by SIGTSTP, before it runs");
        awaitAllStopped(s.child(), 1);
        assertEquals(s.parent().pid(), Procfs.ppid(s.child()));
        continueChild(rest, s.child());
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }

    @Test
    void aStoppedMultiThreadedChildComesBackWithEveryThreadStopped() {
        Started s = start("STOP", 3);
        Path image = checkpoint(s, "stop", SIGSTOP);
        Proc rest = restart(s, image);
        assertEquals("STOPPED " + s.child() + " " + SIGSTOP, rest.await("STOPPED", l -> l.startsWith("STOPPED ") || l.startsWith("RESUMED")));
        awaitAllStopped(s.child(), 4);
        continueChild(rest, s.child());
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }

    @Test
    void leaveRunningAndAFailedCheckpointLeaveAStoppedChildStoppedAndItsParentUntold() {
        Started s = start("TSTP", 2);
        Path image = tmp.resolve("leave.img");
        Cryo.checkpoint(cleanup, s.parent().pid(), image, "--leave-running");
        awaitAllStopped(s.child(), 3);
        Procfs.assertRunningUntraced(s.parent().pid(), "the parent");
        // a checkpoint that fails after it has read everything releases the tree as it was
        Cryo.run(cleanup, java.util.Map.of("CRYO_FAULT", "after-pages"), List.of(), null,
                "checkpoint", Long.toString(s.parent().pid()), "-o", tmp.resolve("failed.img").toString()).assertOneLineError();
        awaitAllStopped(s.child(), 3);
        Procfs.assertRunningUntraced(s.parent().pid(), "the parent");
        continueChild(s.parent(), s.child());
        assertEquals(0, s.parent().awaitExit(Timeouts.EXIT));
    }

    @Test
    void aBadJobStopRecordIsRefused() {
        Started s = start("TSTP", 0);
        Path image = checkpoint(s, "bad-source", SIGTSTP);
        Path badSignal = tmp.resolve("bad-signal.img"), badPid = tmp.resolve("bad-pid.img");
        TreeFixtures.rewrite(image, badSignal, rs -> change(rs, "signal", 9));
        TreeFixtures.rewrite(image, badPid, rs -> change(rs, "pid", (int) Procfs.freePid()));
        String line = Cryo.restartExpectingFailure(cleanup, badSignal, s.parent().pid()).assertOneLineError();
        assertTrue(line.contains("JOB_STOP") && line.contains("'signal'") && line.contains("9"), line);
        line = Cryo.restartExpectingFailure(cleanup, badPid, s.parent().pid()).assertOneLineError();
        assertTrue(line.contains("JOB_STOP") && line.contains("not in the TREE"), line);
    }

    private static List<ImageRecord> change(List<ImageRecord> records, String component, Object value) {
        List<ImageRecord> out = new ArrayList<>();
        for (ImageRecord r : records) out.add(r instanceof JobStopRecord j ? TreeFixtures.with(j, component, value) : r);
        return out;
    }
}
