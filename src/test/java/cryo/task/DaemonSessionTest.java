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

    @Test
    void aDaemonWhoseSessionLeaderIsGoneKeepsItsSessionAndGroup() {
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

        Path image = tmp.resolve("daemon.img");
        Cryo.checkpoint(cleanup, root, image);
        TreeFixtures.awaitAllGone(tree, Duration.ofSeconds(30));
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
}
