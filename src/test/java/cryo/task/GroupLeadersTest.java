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
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Process groups and sessions that outlive their leader (src/test/c/groups.c): a group whose leader exited and
 * was reaped, a group whose leader is a zombie of the tree, and a session whose leader called setsid(), forked
 * and exited. Restart recreates each with a temporary leader (or the zombie first) and lets it go: every task
 * has its group, session and parent again, the gone leaders' pids are free, the zombie is still the root's.
 * A group whose leader lives outside the tree is refused.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class GroupLeadersTest {
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

    /**
     * "Z|live ppid pgid sid" of each pid, the root's ppid left out (after restart it is cryo); a live task may
     * be running or sleeping at any moment.
     */
    private static Map<Long, String> snapshot(List<Long> pids) {
        Map<Long, String> m = new LinkedHashMap<>();
        for (long pid : pids) {
            m.put(pid, Procfs.stat(pid).map(s -> (s.state() == 'Z' ? "Z" : "live") + " " + (pid == pids.getFirst() ? "-" : s.ppid()) + " " + s.pgrp() + " " + s.session())
                    .orElse("gone"));
        }
        return m;
    }

    private static void checkOk(Proc p) {
        p.send("check");
        String l = p.await("OK", s -> s.equals("OK") || s.startsWith("FAILED"));
        assertEquals("OK", l, () -> "the fixture's own check:\n" + p.tails());
    }

    @Test
    void groupsAndSessionsWhoseLeaderIsGoneComeBack() {
        Path exe = Fixtures.compile(tmp, "groups", Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc p = cleanup.start("groups", new ProcessBuilder(exe.toString()));
        String ready = p.await("READY", s -> s.startsWith("READY ") || s.startsWith("FAIL"));
        assertTrue(ready.startsWith("READY "), () -> "the fixture failed: " + ready + "\n" + p.tails());
        List<Long> all = new ArrayList<>();
        for (String f : ready.substring(6).split(" ")) all.add(Long.parseLong(f));
        // root L M Z N S T: L and S are gone already
        long leaderL = all.get(1), leaderS = all.get(5);
        List<Long> tree = List.of(all.get(0), all.get(2), all.get(3), all.get(4), all.get(6));
        subreaper.foreign(cleanup, tree.subList(1, tree.size()), t0, "groups child");
        checkOk(p);
        Map<Long, String> before = snapshot(tree);
        assertTrue(before.get(all.get(3)).startsWith("Z "), "Z is a zombie: " + before);
        Path image = tmp.resolve("groups.img");
        Cryo.checkpoint(cleanup, p.pid(), image);
        p.awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(tree, Duration.ofSeconds(30));
        Instant t1 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, p.pid());
        subreaper.foreign(cleanup, tree, t1, "restored groups task");
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (!(Procfs.alive(p.pid()) && Procfs.tracerPid(p.pid()) == 0 && Procfs.ppid(p.pid()) == rest.pid())) {
            if (!rest.isAlive() || System.nanoTime() > deadline) throw new AssertionError("not restored:\n" + rest.tails());
            Procfs.sleep(Duration.ofMillis(10));
        }
        for (long pid : List.of(all.get(2), all.get(4), all.get(6))) Procfs.assertRunningUntraced(pid, "restored member " + pid);
        assertEquals(before, snapshot(tree), "state, parent, group and session of every task");
        assertFalse(Procfs.exists(leaderL), "the temporary leader of group " + leaderL + " is gone");
        assertFalse(Procfs.exists(leaderS), "the temporary leader of session " + leaderS + " is gone");
        checkOk(rest);
        rest.send("quit");
        assertEquals("BYE 7", rest.await("BYE", s -> s.startsWith("BYE ")), "the root reaps its zombie with its status");
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }

    /** A member of a group led by a task outside the tree: one line naming both, and the tree runs on. */
    @Test
    void aGroupWhoseLeaderRunsOutsideTheTreeIsRefused() {
        Path py = Fixtures.python();
        Proc leader = cleanup.start("outside-leader", new ProcessBuilder(py.toString(), "-c",
                "import os, sys, time\nos.setpgid(0, 0)\nos.write(1, b'READY %d\\n' % os.getpid())\nsys.stdin.read()"));
        long g = leader.awaitReady();
        Instant t0 = Instant.now();
        Proc root = cleanup.start("tree", new ProcessBuilder(py.toString(), "-c",
                "import os, sys, time\npid = os.fork()\nif pid == 0:\n    os.setpgid(0, " + g + ")\n    time.sleep(1000)\n"
                        + "while os.getpgid(pid) != " + g + ": time.sleep(0.01)\nos.write(1, b'READY %d\\n' % pid)\nsys.stdin.read()\nos.kill(pid, 9)\nos.waitpid(pid, 0)"));
        long child = root.awaitReady();
        subreaper.foreign(cleanup, List.of(child), t0, "member of an outside group");
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(root.pid()), "-o", tmp.resolve("x.img").toString()).assertOneLineError();
        assertTrue(line.contains("task " + child) && line.contains("process group " + g) && line.contains("outside the tree"), line);
        assertTrue(Procfs.alive(root.pid()) && Procfs.alive(child), "the tree runs on");
        Procfs.assertRunningUntraced(child, "the member");
        root.closeStdin();
        assertEquals(0, root.awaitExit(Timeouts.EXIT));
        leader.closeStdin();
        assertEquals(0, leader.awaitExit(Timeouts.EXIT));
    }
}
