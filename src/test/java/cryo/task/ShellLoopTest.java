package cryo.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.Tree;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A {@code sh -c} loop that forks a short-lived child every round and prints a counter to a file (the
 * file's description is shared by sh and each child), checkpointed at random moments — with a child
 * running, starting, or exited and not yet reaped — and restarted detached (-d) each time; the counter goes
 * on with no gap or repeat, and each restored tree is checkpointed again.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class ShellLoopTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final String LOOP = "i=0; while :; do i=$((i+1)); echo $i; sleep 0.05 & wait; done";
    /** Forks as fast as it can: a checkpoint nearly always races a fork or an exit. */
    static final String LOOP_FAST = "i=0; while :; do i=$((i+1)); echo $i; (:) & wait; done";
    static final String LOOP_SUBSHELL = "i=0; while :; do i=$((i+1)); (echo $i; sleep 0.03) & wait; done";

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    /** The whole lines 1..K of the output, checked; returns K. */
    static long verify(Path out) throws IOException {
        String s = Files.readString(out, StandardCharsets.ISO_8859_1);
        int end = s.lastIndexOf('\n');
        if (end < 0) return 0;
        String[] lines = s.substring(0, end).split("\n", -1);
        for (int i = 0; i < lines.length; i++)
            if (!lines[i].equals(Integer.toString(i + 1))) {
                int from = Math.max(0, i - 3), to = Math.min(lines.length, i + 4);
                throw new AssertionError("line " + (i + 1) + " of the output is '" + lines[i] + "' (gap or repeat); lines "
                        + (from + 1) + "-" + to + ": " + List.of(lines).subList(from, to));
            }
        return lines.length;
    }

    static long awaitLines(Path out, long atLeast, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        long n;
        while ((n = verify(out)) < atLeast) {
            if (System.nanoTime() > deadline)
                throw new AssertionError("the loop printed " + n + " lines, expected at least " + atLeast + " within "
                        + timeout.toSeconds() + " s");
            Procfs.sleep(Duration.ofMillis(20));
        }
        return n;
    }

    private void loop(String script, int rounds) throws IOException {
        Path out = tmp.resolve("loop.out");
        Path err = tmp.resolve("loop.err");
        ProcessBuilder pb = new ProcessBuilder("sh", "-c", script).redirectInput(Path.of("/dev/null").toFile())
                .redirectOutput(out.toFile()).redirectError(err.toFile());
        Proc sh = cleanup.start("sh-loop", pb);
        long pid = sh.pid();
        long seed = System.nanoTime();
        System.out.println("[ShellLoopTest] random seed " + seed);
        Random rnd = new Random(seed);
        awaitLines(out, 10, Timeouts.LINE);

        int withChildren = 0;
        for (int round = 0; round < rounds; round++) {
            Procfs.sleep(Duration.ofMillis(rnd.nextInt(400)));
            Path image = tmp.resolve("loop-" + round + ".img");
            Cryo.checkpoint(cleanup, pid, image);
            Tree tree = TreeFixtures.tree(image);
            assertEquals(pid, tree.root().pid(), "round " + round + ": the TREE's root is sh");
            for (Tree.Process p : tree.processes())
                if (p.pid() != pid) assertEquals(pid, p.ppid(), "round " + round + ": every other process is a child of sh");
            List<Long> pids = TreeFixtures.pids(image);
            if (pids.size() > 1) withChildren++;
            System.out.println("[ShellLoopTest] round " + round + ": tree " + tree.processes().stream()
                    .map(p -> p.pid() + (p.zombie() ? "(zombie " + p.waitStatus() + ")" : "")).toList());
            if (round == 0) assertEquals(128 + Os.SIGKILL, sh.awaitExit(Timeouts.EXIT), "sh is killed after the checkpoint");
            TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(30));
            long k = verify(out);
            Procfs.sleep(Duration.ofMillis(200));
            assertEquals(k, verify(out), "round " + round + ": nothing is printed while the tree is gone");

            Instant t0 = Instant.now();
            subreaper.foreign(cleanup, pids, t0, "restored loop process");
            Cryo.Result r = Cryo.run(cleanup, "restart", "-d", image.toString()).assertOk();
            List<String> outLines = r.stdout().lines().toList();
            assertEquals(Long.toString(pid), outLines.isEmpty() ? "" : outLines.getLast().trim(),
                    "restart -d prints the root's pid: " + r.describe());
            Procfs.assertRunningUntraced(pid, "the restored sh");
            long now = awaitLines(out, k + 15, Duration.ofSeconds(30));
            System.out.println("[ShellLoopTest] round " + round + ": " + k + " lines at checkpoint, " + now + " after restart");
        }
        System.out.println("[ShellLoopTest] " + withChildren + " of " + rounds + " checkpoints caught sh with a child");

        // stop the last restored loop: sh first (so it forks no more), then whatever child it had
        TreeSet<Long> last = TreeFixtures.descendants(pid);
        assertTrue(Os.kill(pid, Os.SIGKILL));
        for (long c : last) Os.kill(c, Os.SIGKILL);
        TreeFixtures.awaitAllGone(List.of(pid), Duration.ofSeconds(30));
        TreeFixtures.awaitAllGone(last, Duration.ofSeconds(30));
        long total = verify(out);
        assertTrue(total > 10 + 15L * rounds, "output lines: " + total);
        String errText = Files.readString(err, StandardCharsets.ISO_8859_1);
        assertEquals("", errText, "sh wrote to stderr");
    }

    @Test
    void loopForkingChildrenContinuesAcrossCheckpoints() throws IOException {
        loop(LOOP, 4);
    }

    /** Forks continuously, so the freeze has to catch children created while cryo seizes the tree. */
    @Test
    void loopForkingAsFastAsItCanContinuesAcrossCheckpoints() throws IOException {
        loop(LOOP_FAST, 5);
    }

    /** The child itself writes the counter (a subshell inherits the description and its offset). */
    @Test
    void loopWhoseChildrenWriteContinuesAcrossCheckpoints() throws IOException {
        loop(LOOP_SUBSHELL, 4);
    }
}
