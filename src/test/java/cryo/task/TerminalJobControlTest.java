package cryo.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Job control of a restored terminal job, on a real pty (TerminalJobTest's driver): a pipeline job
 * {@code sh -c 'cat | sed | sed'} is checkpointed from outside and restarted by `cryo restart` in the foreground of
 * the same interactive bash. ^Z stops the job and cryo with it (bash says "Stopped" and has its terminal back),
 * fg gives the job the terminal again and it reads the next line, bg continues it without the terminal, and ^C
 * ends it and bash reads commands again.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class TerminalJobControlTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    private Proc shell;

    private void awaitState(List<Long> pids, char state, String what) {
        long deadline = System.nanoTime() + Timeouts.EXIT.toNanos();
        while (!pids.stream().allMatch(p -> Procfs.state(p) == state)) {
            if (System.nanoTime() > deadline) {
                StringBuilder sb = new StringBuilder(what + ": not all in state " + state + ":");
                for (long p : pids) sb.append(' ').append(p).append('=').append(Procfs.state(p));
                throw new AssertionError(sb + "\n" + shell.tails());
            }
            Procfs.sleep(Duration.ofMillis(10));
        }
    }

    private String status(String command) {
        shell.send(command + "; echo S\"\"TATUS $?");
        return Long.toString(TerminalJobTest.after(shell.await("STATUS", s -> s.contains("STATUS ")), "STATUS "));
    }

    private void typeAndRead(String word) {
        shell.send(word);
        String got = shell.await("got:" + word, l -> l.endsWith("got:" + word) || l.contains("cryo:"));
        assertTrue(got.endsWith("got:" + word), () -> got + "\n" + shell.tails());
    }

    @Test
    void ctrlZStopsTheJobAndCryoFgAndBgContinueIt() throws Exception {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("bash");
        Fixtures.assumeTool("sed");
        Path py = Fixtures.python();
        Files.writeString(tmp.resolve("driver.py"), TerminalJobTest.DRIVER);
        ProcessBuilder pb = new ProcessBuilder(py.toString(), tmp.resolve("driver.py").toString());
        Cryo.environment(pb, Map.of());
        shell = cleanup.start("pty", pb);
        long bash = TerminalJobTest.after(shell.await("SHELL", l -> l.startsWith("SHELL ")), "SHELL ");
        cleanup.foreign(bash, Instant.now(), "bash on the pty");
        assertEquals("0", status("set -b"), "bash reports a job's stop at once");
        Instant t0 = Instant.now();
        shell.send("sh -c 'echo RE\"\"ADY $$; cat | sed -u s/a/A/g | sed -u s/^/got:/'");
        long root = TerminalJobTest.after(shell.await("READY", l -> l.contains("READY ")), "READY ");
        cleanup.foreign(root, t0, "the job's sh");
        List<Long> job = new ArrayList<>(List.of(root));
        long deadline = System.nanoTime() + Timeouts.EXIT.toNanos();
        while (job.size() < 4) {
            if (System.nanoTime() > deadline) throw new AssertionError("the pipeline did not start: " + job + "\n" + shell.tails());
            Procfs.sleep(Duration.ofMillis(10));
            job = new ArrayList<>(List.of(root));
            job.addAll(TreeFixtures.children(root));
        }
        subreaper.foreign(cleanup, job.subList(1, job.size()), t0, "pipeline task");
        typeAndRead("one");
        assertEquals(root, TerminalJobTest.tpgid(root), "the job is its terminal's foreground");
        Path image = tmp.resolve("job.img");
        Cryo.checkpoint(cleanup, root, image);
        TreeFixtures.awaitAllGone(job, Duration.ofSeconds(30));

        shell.send(Cryo.bin() + " restart " + image);
        deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (!job.stream().allMatch(p -> Procfs.alive(p) && Procfs.tracerPid(p) == 0)) {
            if (System.nanoTime() > deadline) throw new AssertionError("the job was not restored:\n" + shell.tails());
            Procfs.sleep(Duration.ofMillis(10));
        }
        long cryo = Procfs.ppid(root);
        assertEquals(bash, Procfs.ppid(cryo), "cryo restart is bash's job");
        assertEquals(root, TerminalJobTest.tpgid(root), "the restored job has the terminal");
        typeAndRead("two");

        shell.send("<SUSP>");
        String stopped = shell.await("Stopped", l -> l.contains("Stopped") || l.contains("cryo:"));
        assertTrue(stopped.contains("Stopped") && stopped.contains("restart"), () -> stopped + "\n" + shell.tails());
        List<Long> all = new ArrayList<>(job);
        all.add(cryo);
        awaitState(all, 'T', "after ^Z");
        assertEquals("0", status("true"), "bash has its terminal back and reads commands");
        awaitState(all, 'T', "while bash runs commands");

        shell.send("fg");
        deadline = System.nanoTime() + Timeouts.EXIT.toNanos();
        while (TerminalJobTest.tpgid(root) != root) {
            if (System.nanoTime() > deadline) throw new AssertionError("fg did not give the job the terminal:\n" + shell.tails());
            Procfs.sleep(Duration.ofMillis(10));
        }
        typeAndRead("three");

        shell.send("<SUSP>");
        shell.await("Stopped", l -> l.contains("Stopped"));
        awaitState(all, 'T', "after the second ^Z");
        shell.send("bg");
        // Continued in the background, cat reads the terminal and SIGTTIN stops the job: cryo stops with it.
        awaitState(all, 'T', "the background job after cat read the terminal");
        shell.await("Stopped", l -> l.contains("Stopped"));   // bash saw cryo continued, then stopped again
        assertEquals(bash, TerminalJobTest.tpgid(root), "bg left the terminal to bash");
        shell.send("fg");
        deadline = System.nanoTime() + Timeouts.EXIT.toNanos();
        while (TerminalJobTest.tpgid(root) != root) {
            if (System.nanoTime() > deadline) throw new AssertionError("fg did not give the job the terminal:\n" + shell.tails());
            Procfs.sleep(Duration.ofMillis(10));
        }
        typeAndRead("four");

        shell.send("<INTR>");
        TreeFixtures.awaitAllGone(all, Duration.ofSeconds(30));
        assertEquals("0", status("true"), "bash has its terminal back after ^C");
        shell.send("exit");
        assertEquals(0, shell.awaitExit(Timeouts.EXIT));
    }
}
