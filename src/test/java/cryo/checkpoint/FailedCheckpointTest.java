package cryo.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Fixtures.Build;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.LongPredicate;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint that fails part-way (the CRYO_FAULT=after-pages hook, or a target cryo refuses)
 * leaves the target running exactly as before, untraced, and leaves no image file behind.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class FailedCheckpointTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    private static final Map<String, String> FAULT = Map.of("CRYO_FAULT", "after-pages");

    @Test
    void faultAfterPagesLeavesASleepingTargetCountingOn() throws IOException {
        Path exe = Fixtures.fixture(tmp, Build.PIE);
        Proc target = Fixtures.startFixture(cleanup, exe, "sleep", tmp.resolve("work"));
        long pid = target.pid();
        for (int i = 0; i < 3; i++) target.nextTick();
        Path out = Files.createDirectories(tmp.resolve("out"));

        Cryo.runEnv(cleanup, FAULT, "checkpoint", Long.toString(pid), "-o", out.resolve("f.img").toString())
                .assertOneLineError();
        assertEquals(List.of(), Cryo.list(out), "no image, not even a temporary one");
        Procfs.assertRunningUntraced(pid, "the target after a failed checkpoint");
        // every tick printed (before, during and after the attempt) follows the previous one, none failed
        long t = target.nextTick();
        for (int i = 0; i < 5; i++) assertEquals(++t, target.nextTick(), "the counter goes on with no gap");
        target.checkOk();
        assertEquals(Long.toString(pid), target.status().get("pid"));
    }

    @Test
    void faultAfterPagesLeavesAReadingTargetAsItWas() throws IOException {
        Path exe = Fixtures.fixture(tmp, Build.PIE);
        Proc target = Fixtures.startFixture(cleanup, exe, "read", tmp.resolve("work"));
        long pid = target.pid();
        target.checkOk();
        assertTrue(Os.kill(pid, Os.SIGUSR2)); // blocked: stays pending
        Map<String, String> before = target.status();
        assertEquals("12", before.get("pending"));
        Path out = Files.createDirectories(tmp.resolve("out"));

        Cryo.runEnv(cleanup, FAULT, "checkpoint", Long.toString(pid), "-o", out.resolve("f.img").toString())
                .assertOneLineError();
        assertEquals(List.of(), Cryo.list(out), "no image, not even a temporary one");
        Procfs.assertRunningUntraced(pid, "the target after a failed checkpoint");
        target.checkOk(); // registers, memory, files, signals as before
        Map<String, String> after = target.status();
        assertEquals("12", after.get("pending"), "the pending signal was not consumed: " + after);
        assertEquals(Long.parseLong(before.get("checks")) + 1, Long.parseLong(after.get("checks")));
        assertEquals(Long.parseLong(before.get("usr1")) + 1, Long.parseLong(after.get("usr1")),
                "one SIGUSR1 per check: none lost, none extra");
        // and the same target can still be checkpointed afterwards
        Path image = out.resolve("ok.img");
        Cryo.checkpoint(cleanup, pid, image, "--leave-running");
        Procfs.assertRunningUntraced(pid, "the target after --leave-running");
        target.checkOk();
    }

    // ------------------------------------------------------------------ targets refused up front
    // (threads and children were refused at first; cryo handles whole trees now)

    private void assertRefused(Proc target, String what, LongPredicate ready) throws IOException {
        long pid = target.pid();
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (!ready.test(pid)) {
            assertTrue(System.nanoTime() < deadline, what + ": the target did not get ready");
            Procfs.sleep(Duration.ofMillis(10));
        }
        String comm = Procfs.stat(pid).map(Procfs.Stat::comm).orElse("?");
        Path out = Files.createDirectories(tmp.resolve("out-" + pid));
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(pid), "-o", out.resolve("r.img").toString())
                .assertOneLineError();
        assertTrue(line.contains(Long.toString(pid)) || line.contains(comm),
                what + ": the refusal names the task (pid " + pid + " or " + comm + "): " + line);
        assertEquals(List.of(), Cryo.list(out), what + ": nothing written");
        Procfs.assertRunningUntraced(pid, what);
    }

    @Test
    void aPipeBeyondFd2ToAnotherProcessIsRefused() throws IOException {
        // fd 3 is what was stdin: a pipe whose other end the test JVM holds; fds 0-2 do not share it
        Proc target = cleanup.start("fd3", new ProcessBuilder("sh", "-c", "exec sleep 100000 3<&0 </dev/null"));
        assertRefused(target, "a process with a foreign pipe at fd 3",
                pid -> Procfs.stat(pid).map(s -> s.comm().equals("sleep")).orElse(false)
                        && Files.exists(Path.of("/proc", Long.toString(pid), "fd", "3")));
    }
}
