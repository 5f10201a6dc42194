package cryo.restart;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A plain tree (a shell and its sleep) whose root's pid is held by another process at restart: a plain
 * restart fails and suggests --fresh-pid-ns; with it the tree runs on in a new pid namespace under cryo's
 * init, with its own pids inside, and the init passes signals on to it and exits as its root did.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class FreshPidNamespaceTest {
    private static final int SIGHUP = 1, SIGKILL = 9, SIGTERM = 15;
    /**
     * On SIGHUP the root prints its pid and its parent's as /proc (its own) shows them, /proc/1's name, the
     * NSpid of the /proc file it holds at fd 3 (its own status) and the text of a deleted file held at fd 4.
     */
    private static final String SCRIPT = "exec 3</proc/$$/status\n"
            + "echo hello > ghost; exec 4<ghost; rm ghost\n"
            + "trap 'echo \"HUP $(cut -d\" \" -f1,4 /proc/$$/stat) $(cat /proc/1/comm) $(grep ^NSpid: <&3 | cut -f2-) $(cat <&4)\"' HUP\n"
            + "trap 'exit 3' TERM\n"
            + "sleep 1000 & s=$!\n"
            + "echo \"READY $$\"; echo \"CHILD $s\"\n"
            + "while :; do wait $s; done\n";

    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    /** The checkpointed tree's pids (root first) and the holder of the root's pid. */
    private record Taken(long root, long child, Path image, Proc holder) {
    }

    /** Starts the tree, checkpoints it (it is gone then), and has pid_holder take the root's pid. */
    private Taken checkpointAndTakeRootPid() {
        Fixtures.assumeRoot();
        Instant t0 = Instant.now();
        Proc tree = cleanup.start("tree", new ProcessBuilder("sh", "-c", SCRIPT).directory(tmp.toFile()));
        long root = tree.awaitReady();
        long child = Long.parseLong(tree.await("CHILD", s -> s.startsWith("CHILD ")).substring(6));
        subreaper.foreign(cleanup, List.of(child), t0, "the tree's sleep");
        Path image = tmp.resolve("tree.img");
        Cryo.checkpoint(cleanup, root, image);
        tree.awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(List.of(root, child), Duration.ofSeconds(30));
        Path holderExe = Fixtures.compile(tmp, "pid_holder", Fixtures.Build.PIE);
        Instant t1 = Instant.now();
        Proc holder = cleanup.start("pid holder", new ProcessBuilder(holderExe.toString(), Long.toString(root)));
        assertEquals(root, holder.awaitReady(), "the holder has the root's pid");
        // its child holds the pid: a SIGKILL of the holder (Cleanup, after a failure) leaves it to be killed
        subreaper.foreign(cleanup, List.of(root), t1, "the pid holder's child");
        return new Taken(root, child, image, holder);
    }

    /** The last field of NSpid: the task's pid in its own pid namespace. */
    private static long innermostPid(long hostPid) {
        return innermost(hostPid, "NSpid");
    }

    /** The last field of NSpid, NSpgid or NSsid: as the task's own pid namespace sees it. */
    private static long innermost(long hostPid, String field) {
        String[] f = Procfs.statusField(hostPid, field).orElseThrow().trim().split("\\s+");
        return Long.parseLong(f[f.length - 1]);
    }

    /** The restored namespace, seen from the host: the init, the root and the sleep, each running untraced. */
    private record Restored(long init, long root, long child) {
    }

    /** Waits for init (host pid) to have the restored root as its child, and the root its sleep, all released. */
    private Restored awaitRestored(long init) {
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (true) {
            List<Long> roots = List.copyOf(TreeFixtures.children(init));
            List<Long> kids = roots.size() == 1 ? List.copyOf(TreeFixtures.children(roots.getFirst())) : List.of();
            if (kids.size() == 1 && Procfs.tracerPid(init) == 0 && Procfs.tracerPid(roots.getFirst()) == 0
                    && Procfs.tracerPid(kids.getFirst()) == 0 && Procfs.state(roots.getFirst()) != 't') {
                return new Restored(init, roots.getFirst(), kids.getFirst());
            }
            if (System.nanoTime() > deadline) throw new AssertionError("not restored under init " + init + ": " + roots + " " + kids);
            Procfs.sleep(Duration.ofMillis(10));
        }
    }

    /** Its own pids inside, other pids on the host, cryo's init as pid 1. */
    private static void assertOwnPids(Taken t, Restored r) {
        assertEquals("cryo-init", Procfs.stat(r.init()).orElseThrow().comm());
        assertEquals(1, innermostPid(r.init()), "the init is pid 1 of the namespace");
        assertEquals(t.root(), innermostPid(r.root()), "the root has its old pid inside");
        assertEquals(t.child(), innermostPid(r.child()), "the sleep has its old pid inside");
        assertNotEquals(t.root(), r.root(), "the root's pid on the host is another (the holder has its old one)");
        assertEquals("sh", Procfs.stat(r.root()).orElseThrow().comm());
        assertEquals("sleep", Procfs.stat(r.child()).orElseThrow().comm());
    }

    @Test
    void aTakenRootPidFailsAPlainRestartAndComesBackInAFreshPidNamespace() {
        Taken t = checkpointAndTakeRootPid();
        String line = Cryo.restartExpectingFailure(cleanup, t.image(), t.root()).assertOneLineError();
        assertTrue(line.contains("pid " + t.root()) && line.contains("in use") && line.contains("--fresh-pid-ns"), line);
        assertFalse(Procfs.exists(t.child()), "nothing restored");

        Instant t0 = Instant.now();
        ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), "restart", "--fresh-pid-ns", t.image().toString()))
                .directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of());
        Proc rest = cleanup.start("restart --fresh-pid-ns", pb);
        long init = -1;
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (init < 0) {
            for (long c : TreeFixtures.children(rest.pid())) {
                if (Procfs.stat(c).map(s -> s.comm().equals("cryo-init")).orElse(false)) init = c;
            }
            if (System.nanoTime() > deadline || !rest.isAlive()) throw new AssertionError("no init under cryo restart: " + rest.tails());
            Procfs.sleep(Duration.ofMillis(10));
        }
        subreaper.foreign(cleanup, List.of(init), t0, "the init");
        Restored r = awaitRestored(init);
        assertOwnPids(t, r);

        Procfs.assertRunningUntraced(init, "the init");
        assertTrue(Procfs.alive(init));
        cryo.testing.Os.kill(init, SIGHUP);
        assertEquals("HUP " + t.root() + " 1 cryo-init " + t.root() + " hello", rest.await("HUP", s -> s.startsWith("HUP ")),
                "SIGHUP passed on to the root, which reads its own pid, its parent's (the init) and pid 1's name in its /proc, "
                        + "its own status through its fd (of its namespace's /proc: NSpid with one level), and its deleted file");
        cryo.testing.Os.kill(init, SIGTERM);
        assertEquals(3, rest.awaitExit(Timeouts.EXIT), "cryo restart exits with the root's status");
        TreeFixtures.awaitAllGone(List.of(r.init(), r.root(), r.child()), Duration.ofSeconds(30));

        t.holder().closeStdin();
        assertEquals(0, t.holder().awaitExit(Timeouts.EXIT));
    }

    @Test
    void detachedItPrintsTheInitsPidAndTheNamespaceEndsWithItsRoot() throws IOException {
        Taken t = checkpointAndTakeRootPid();
        Path out = tmp.resolve("out");
        Instant t0 = Instant.now();
        ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), "restart", "-d", "--fresh-pid-ns", t.image().toString()))
                .directory(Cryo.root().toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .redirectOutput(out.toFile()).redirectError(tmp.resolve("err").toFile());
        Cryo.environment(pb, Map.of());
        Cryo.Result res = Cryo.collect(cleanup, pb.command(), pb);
        String err = Files.readString(tmp.resolve("err"));
        assertEquals(0, res.exit(), err);
        long init = Long.parseLong(Files.readAllLines(out).getFirst().trim());
        subreaper.foreign(cleanup, List.of(init), t0, "the init");
        Restored r = awaitRestored(init);
        assertOwnPids(t, r);

        // the root killed outright: the init exits (128 + 9), and the namespace's last task, the sleep, with it
        cryo.testing.Os.kill(r.root(), SIGKILL);
        TreeFixtures.awaitAllGone(List.of(r.init(), r.root(), r.child()), Duration.ofSeconds(30));

        t.holder().closeStdin();
        assertEquals(0, t.holder().awaitExit(Timeouts.EXIT));
    }

    /**
     * A restart that fails once the namespace and the tree exist (their flock taken meanwhile by another
     * process) is one line and leaves no process: the init and every task of its namespace are killed.
     */
    @Test
    void aRestartThatFailsInTheNamespaceLeavesNothing() {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("flock");
        Instant t0 = Instant.now();
        Proc tree = cleanup.start("tree", new ProcessBuilder("sh", "-c",
                "exec 5>lock; flock 5; sleep 1000 & s=$!; echo \"READY $$\"; echo \"CHILD $s\"; wait $s").directory(tmp.toFile()));
        long root = tree.awaitReady();
        long child = Long.parseLong(tree.await("CHILD", s -> s.startsWith("CHILD ")).substring(6));
        subreaper.foreign(cleanup, List.of(child), t0, "the tree's sleep");
        Path image = tmp.resolve("tree.img");
        Cryo.checkpoint(cleanup, root, image);
        tree.awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(List.of(root, child), Duration.ofSeconds(30));
        Proc taker = cleanup.start("flock", new ProcessBuilder("flock", "lock", "sh", "-c", "echo \"READY $$\"; read x; exit 0")
                .directory(tmp.toFile()));
        taker.awaitReady();

        subreaper.off();
        cryo.testing.Leftovers before = cryo.testing.Leftovers.snapshot();
        String line = Cryo.run(cleanup, "restart", "--fresh-pid-ns", image.toString()).assertOneLineError();
        assertTrue(line.contains("lock"), line);
        before.assertNone(cleanup, "a failed restart --fresh-pid-ns");
        subreaper.on();
        taker.closeStdin();
        assertEquals(0, taker.awaitExit(Timeouts.EXIT));
    }

    /**
     * A daemon (a subshell and its sleeps, whose session leader is gone) whose session id is taken at restart:
     * a plain restart fails suggesting --fresh-pid-ns; with it the daemon is back in its own session and group
     * inside the namespace (a temporary leader made by the init, reaped by it).
     */
    @Test
    void aDaemonWhoseSessionIdIsTakenComesBackInItsSessionInsideAFreshPidNamespace() throws IOException {
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
        List<Long> sleeps = List.of();
        long deadline = System.nanoTime() + Timeouts.EXIT.toNanos();
        while (sleeps.size() < 2 || !sleeps.stream().allMatch(p -> Procfs.stat(p).map(s -> s.comm().equals("sleep")).orElse(false))) {
            if (System.nanoTime() > deadline) throw new AssertionError("the daemon's sleeps did not start: " + sleeps);
            Procfs.sleep(Duration.ofMillis(10));
            sleeps = List.copyOf(TreeFixtures.children(root));
        }
        subreaper.foreign(cleanup, sleeps, t0, "daemon sleep");
        assertFalse(Procfs.exists(leader), "the session leader is gone");
        Path image = tmp.resolve("daemon.img");
        Cryo.checkpoint(cleanup, root, image);
        List<Long> tree = new java.util.ArrayList<>(sleeps);
        tree.add(root);
        TreeFixtures.awaitAllGone(tree, Duration.ofSeconds(30));
        Path holderExe = Fixtures.compile(tmp, "pid_holder", Fixtures.Build.PIE);
        Instant t1 = Instant.now();
        Proc holder = cleanup.start("pid holder", new ProcessBuilder(holderExe.toString(), Long.toString(leader)));
        assertEquals(leader, holder.awaitReady(), "the holder has the session's id");
        subreaper.foreign(cleanup, List.of(leader), t1, "the pid holder's child");

        String line = Cryo.run(cleanup, "restart", "-d", image.toString()).assertOneLineError();
        assertTrue(line.contains("pid " + leader) && line.contains("in use") && line.contains("--fresh-pid-ns"), line);
        Cryo.Result r = Cryo.run(cleanup, "restart", "-d", "--fresh-pid-ns", image.toString()).assertOk();
        long init = Long.parseLong(r.stdout().trim());
        subreaper.foreign(cleanup, List.of(init), t1, "the init");
        long rootHost = -1;
        List<Long> sleepsHost = List.of();
        deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (rootHost < 0 || sleepsHost.size() != 2 || Procfs.tracerPid(rootHost) != 0
                || sleepsHost.stream().anyMatch(p -> Procfs.tracerPid(p) != 0)) {
            if (System.nanoTime() > deadline) throw new AssertionError("not restored under init " + init);
            Procfs.sleep(Duration.ofMillis(10));
            List<Long> c = List.copyOf(TreeFixtures.children(init));
            rootHost = c.size() == 1 ? c.getFirst() : -1;
            sleepsHost = rootHost < 0 ? List.of() : List.copyOf(TreeFixtures.children(rootHost));
        }
        assertEquals(root, innermostPid(rootHost), "the subshell has its old pid inside");
        for (long s : sleepsHost) {
            assertTrue(sleeps.contains(innermostPid(s)), "a sleep has its old pid inside: " + innermostPid(s));
            assertEquals(leader, innermost(s, "NSsid"));
        }
        assertEquals(leader, innermost(rootHost, "NSsid"), "the daemon's own session, inside");
        assertEquals(leader, innermost(rootHost, "NSpgid"), "and its group");
        assertEquals(1, Procfs.ppid(rootHost) == init ? 1 : 0, "the init is the root's parent (the temporary leader is gone)");

        cryo.testing.Os.kill(rootHost, SIGKILL);
        List<Long> gone = new java.util.ArrayList<>(sleepsHost);
        gone.add(rootHost);
        gone.add(init);
        TreeFixtures.awaitAllGone(gone, Duration.ofSeconds(30));
        holder.closeStdin();
        assertEquals(0, holder.awaitExit(Timeouts.EXIT));
    }
}
