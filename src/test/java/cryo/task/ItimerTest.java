package cryo.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Timeouts;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Interval timers (src/test/c/itimers.c): ITIMER_REAL, ITIMER_VIRTUAL and ITIMER_PROF armed with 10 ms
 * intervals keep firing after restart. ITIMER_REAL used to come back disarmed: checkpointed while its
 * SIGALRM was pending, it reads as {interval, 0}, and the kernel re-arms it only when that signal is taken.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ItimerTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    private static String grow(Proc p) {
        p.send("grow");
        String l = p.await("GREW", s -> s.startsWith("GREW ") || s.startsWith("STUCK") || s.startsWith("FAIL"));
        assertTrue(l.startsWith("GREW "), () -> "every timer keeps firing: " + l + "\n" + p.tails());
        return l;
    }

    private static List<String> timers(Proc p) {
        p.send("timers");
        List<String> out = new ArrayList<>();
        for (int i = 0; i < 3; i++) out.add(p.await("TIMERS " + i, s -> s.startsWith("TIMERS ")));
        p.await("END", s -> s.equals("END"));
        return out;
    }

    @Test
    void allThreeIntervalTimersKeepFiringAfterRestart() {
        run(false);
    }

    /** Checkpointed with SIGALRM blocked and pending: ITIMER_REAL is expired and idle, {10 ms, 0}. */
    @Test
    void anExpiredRealTimerWithItsSignalPendingFiresAgainAfterRestart() {
        run(true);
    }

    private void run(boolean hold) {
        Fixtures.assumeRoot();
        Path exe = Fixtures.compile(tmp, "itimers", Fixtures.Build.PIE);
        Proc p = cleanup.start("itimers", new ProcessBuilder(exe.toString()));
        assertEquals(p.pid(), p.awaitReady());
        grow(p);
        if (hold) {
            p.send("hold");
            p.await("HELD", l -> l.equals("HELD"));
        }
        Path image = tmp.resolve("itimers.img");
        Cryo.checkpoint(cleanup, p.pid(), image);
        p.awaitExit(Timeouts.EXIT);
        if (hold) {
            TaskRecord task = TreeFixtures.withRecords(image, rs -> rs.stream().filter(r -> r instanceof TaskRecord)
                    .map(r -> (TaskRecord) r).findFirst().orElseThrow());
            long[] real = java.util.Arrays.copyOf(task.itimers(), 4);
            assertEquals(List.of(0L, 10000L, 0L, 0L), java.util.Arrays.stream(real).boxed().toList(), "ITIMER_REAL in the image");
        }
        Proc rest = Cryo.startRestart(cleanup, image, p.pid());
        grow(rest);
        for (String t : timers(rest)) {
            assertEquals("10000", t.split(" ")[2], "interval of " + t);
            assertTrue(Long.parseLong(t.split(" ")[3]) > 0, "armed: " + t);
        }
        grow(rest);
        rest.send("quit");
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }
}
