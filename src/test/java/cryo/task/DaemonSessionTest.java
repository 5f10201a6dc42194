package cryo.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A daemon that forked twice: {@code setsid bash -c '( sleep & sleep & wait ) &'} leaves a subshell and its two
 * sleeps in a session and group whose leader (the bash) is gone. Checkpointed at the subshell, it comes back in
 * that session and group, not in cryo restart's: in the foreground and with -d.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class DaemonSessionTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    /** "ppid pgid sid" of each pid, the root's ppid left out (after restart it is cryo, or the subreaper). */
    private static Map<Long, String> ids(List<Long> pids) {
        Map<Long, String> m = new LinkedHashMap<>();
        for (long pid : pids) {
            m.put(pid, Procfs.stat(pid).map(s -> (pid == pids.getFirst() ? "-" : s.ppid()) + " " + s.pgrp() + " " + s.session())
                    .orElse("gone"));
        }
        return m;
    }

    private static void awaitRestored(List<Long> tree, Proc rest) {
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (!tree.stream().allMatch(p -> Procfs.alive(p) && Procfs.tracerPid(p) == 0)
                || rest.isAlive() && Procfs.ppid(tree.getFirst()) != rest.pid()) {
            if (System.nanoTime() > deadline) throw new AssertionError("not restored:\n" + rest.tails());
            Procfs.sleep(Duration.ofMillis(10));
        }
    }

    /** The daemon's subshell (first) and its sleeps, its gone leader, and their ids before the checkpoint. */
    private record Daemon(long root, long leader, List<Long> tree, Map<Long, String> before) {
    }

    /** Starts the daemon, checks that its leader is gone, checkpoints it to image; the tree is gone then. */
    private Daemon checkpointDaemon(Path image) {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("setsid");
        Fixtures.assumeTool("bash");
        Instant t0 = Instant.now();
        Proc launcher = cleanup.start("daemon", new ProcessBuilder("setsid", "bash", "-c",
                "( sleep 1003 & sleep 1005 & wait ) </dev/null >/dev/null 2>&1 & echo \"READY $!\"; echo \"LEADER $$\""));
        long root = launcher.awaitReady();
        long leader = Long.parseLong(launcher.await("LEADER", s -> s.startsWith("LEADER ")).substring(7));
        cleanup.foreign(root, t0, "the daemon subshell");
        subreaper.track(List.of(root));
        assertEquals(0, launcher.awaitExit(Timeouts.EXIT));
        List<Long> tree = new ArrayList<>(List.of(root));
        long deadline = System.nanoTime() + Timeouts.EXIT.toNanos();
        while (tree.size() < 3 || !tree.stream().allMatch(p -> Procfs.stat(p).map(s -> p == root || s.comm().equals("sleep")).orElse(false))) {
            if (System.nanoTime() > deadline) throw new AssertionError("the daemon's sleeps did not start: " + tree);
            Procfs.sleep(Duration.ofMillis(10));
            tree = new ArrayList<>(List.of(root));
            tree.addAll(TreeFixtures.children(root));
        }
        subreaper.foreign(cleanup, tree, t0, "daemon task");
        assertFalse(Procfs.exists(leader), "the session leader is gone");
        Map<Long, String> before = ids(tree);
        assertEquals(leader + " " + leader, before.get(root).substring(2), "the subshell is in the gone leader's session and group");
        Cryo.checkpoint(cleanup, root, image);
        TreeFixtures.awaitAllGone(tree, Duration.ofSeconds(30));
        return new Daemon(root, leader, tree, before);
    }

    @Test
    void aDaemonWhoseSessionLeaderIsGoneKeepsItsSessionAndGroup() {
        Path image = tmp.resolve("daemon.img");
        Daemon d = checkpointDaemon(image);
        long root = d.root(), leader = d.leader();
        List<Long> tree = d.tree();
        Map<Long, String> before = d.before();
        Proc rest = Cryo.startRestart(cleanup, image, root);
        awaitRestored(tree, rest);
        assertEquals(before, ids(tree), "parent, group and session of every task, in the foreground");
        assertFalse(Procfs.exists(leader), "the temporary session leader is gone");

        Path again = tmp.resolve("again.img");
        Cryo.checkpoint(cleanup, root, again);
        assertEquals(128 + 9, rest.awaitExit(Timeouts.EXIT), "cryo restart reports its root killed by the checkpoint");
        TreeFixtures.awaitAllGone(tree, Duration.ofSeconds(30));
        Cryo.run(cleanup, "restart", "-d", again.toString()).assertOk();
        awaitRestored(tree, rest);
        assertEquals(before, ids(tree), "parent, group and session of every task, with -d");
        assertFalse(Procfs.exists(leader), "the temporary session leader is gone");
    }

    /** The session's id taken by another process at restart: one line naming it, and nothing restored. */
    @Test
    void aTakenSessionIdFailsTheRestart() {
        Path image = tmp.resolve("daemon.img");
        Daemon d = checkpointDaemon(image);
        Path holder = Fixtures.compile(tmp, "pid_holder", Fixtures.Build.PIE);
        Proc h = cleanup.start("pid holder", new ProcessBuilder(holder.toString(), Long.toString(d.leader())));
        assertEquals(d.leader(), h.awaitReady(), "the holder has the session's id");
        String line = Cryo.restartExpectingFailure(cleanup, image, d.root()).assertOneLineError();
        assertTrue(line.contains("pid " + d.leader()) && line.contains("session") && line.contains("in use"), line);
        for (long p : d.tree()) assertFalse(Procfs.exists(p), "nothing restored: " + p);
        h.closeStdin();
        assertEquals(0, h.awaitExit(Timeouts.EXIT));
    }

    /**
     * A job of a harness in a session whose leader exited — timeout(1) makes its own group and stays alive, as
     * under CI: the group's id cannot be taken again, so the task comes back in cryo restart's session and
     * group, like a shell job, instead of being refused.
     */
    @Test
    void aTaskWhoseGroupLeaderLivesOnOutsideComesBackAsAJob() {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("setsid");
        Fixtures.assumeTool("timeout");
        Instant t0 = Instant.now();
        Proc launcher = cleanup.start("harness", new ProcessBuilder("setsid", "bash", "-c",
                "timeout 300 sleep 1009 </dev/null >/dev/null 2>&1 & echo \"READY $!\"; echo \"LEADER $$\""));
        long harness = launcher.awaitReady();
        long leader = Long.parseLong(launcher.await("LEADER", s -> s.startsWith("LEADER ")).substring(7));
        cleanup.foreign(harness, t0, "timeout");
        subreaper.track(List.of(harness));
        assertEquals(0, launcher.awaitExit(Timeouts.EXIT));
        List<Long> kids = List.of();
        long deadline = System.nanoTime() + Timeouts.EXIT.toNanos();
        while (kids.size() != 1 || !Procfs.stat(kids.getFirst()).map(s -> s.comm().equals("sleep")).orElse(false)) {
            if (System.nanoTime() > deadline) throw new AssertionError("timeout's sleep did not start: " + kids);
            Procfs.sleep(Duration.ofMillis(10));
            kids = new ArrayList<>(TreeFixtures.children(harness));
        }
        long sleep = kids.getFirst();
        subreaper.foreign(cleanup, List.of(sleep), t0, "the harness's job");
        assertFalse(Procfs.exists(leader), "the session leader is gone");
        assertEquals(harness + " " + leader, ids(List.of(sleep)).get(sleep).substring(2), "in timeout's group, in the gone session");

        Path image = tmp.resolve("job.img");
        Cryo.checkpoint(cleanup, sleep, image);
        TreeFixtures.awaitAllGone(List.of(sleep), Duration.ofSeconds(30));
        Proc rest = Cryo.startRestart(cleanup, image, sleep);
        awaitRestored(List.of(sleep), rest);
        String own = Procfs.stat(rest.pid()).map(s -> s.pgrp() + " " + s.session()).orElseThrow();
        assertEquals(own, ids(List.of(sleep)).get(sleep).substring(2), "cryo restart's group and session");
    }
}
