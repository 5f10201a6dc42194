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
 * Zombies (src/test/c/zombies.c): four children that ended with exit 0, exit 42, SIGKILL and SIGSEGV are
 * left unreaped by a parent that counts SIGCHLD. After checkpoint and restart they are zombies again with
 * the same pids, parent and wait status; the parent reaps them only then and sees the original statuses,
 * and its SIGCHLD count shows no extra signal, while a SIGCHLD that was pending (blocked) at checkpoint is
 * delivered exactly once after restart.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class ZombieTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    /** The raw wait statuses the kernel gives: exit 0, exit 42, SIGKILL, SIGSEGV (no core dump). */
    static final List<Integer> EXPECTED = List.of(0, 42 << 8, 9, 11);

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    record Started(Proc proc, int count, List<Long> kids, boolean pending) {
        List<Long> all() {
            List<Long> l = new ArrayList<>(List.of(proc.pid()));
            l.addAll(kids);
            return l;
        }
    }

    private Started start(boolean pending) {
        Path exe = Fixtures.compile(tmp, "zombies", Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc p = pending ? cleanup.start("zombies", new ProcessBuilder(exe.toString(), "pending"))
                : cleanup.start("zombies", new ProcessBuilder(exe.toString()));
        String l = p.await("READY", s -> s.startsWith("READY ") || s.startsWith("FAIL"));
        assertTrue(l.startsWith("READY "), () -> "the fixture failed: " + l + "\n" + p.tails());
        String[] f = l.split(" ");
        List<Long> kids = new ArrayList<>();
        for (int i = 2; i < 6; i++) kids.add(Long.parseLong(f[i]));
        subreaper.foreign(cleanup, kids, t0, "zombie");
        assertEquals(pending, l.endsWith(" pending"));
        for (long k : kids) {
            assertEquals('Z', Procfs.state(k), "child " + k + " is a zombie");
            assertEquals(p.pid(), Procfs.ppid(k), "child " + k + "'s parent");
        }
        int count = Integer.parseInt(f[1]);
        assertTrue(count >= 1 && count <= 4, "SIGCHLD count " + count);
        return new Started(p, count, kids, pending);
    }

    /** "COUNT n pending=p blocked=b" */
    private static Map<String, Integer> count(Proc p, String command) {
        p.send(command);
        String l = p.await("COUNT", s -> s.startsWith("COUNT ") || s.startsWith("FAIL"));
        assertTrue(l.startsWith("COUNT "), () -> "'" + command + "': " + l);
        String[] f = l.split(" ");
        Map<String, Integer> m = new LinkedHashMap<>();
        m.put("count", Integer.parseInt(f[1]));
        m.put("pending", Integer.parseInt(f[2].substring("pending=".length())));
        m.put("blocked", Integer.parseInt(f[3].substring("blocked=".length())));
        return m;
    }

    /** Sends "reap": returns the raw status of each child, in order; fails on a FAIL line. */
    private static List<Integer> reap(Started s, Proc p) {
        p.send("reap");
        List<Integer> st = new ArrayList<>();
        for (long k : s.kids()) {
            String l = p.await("REAPED " + k, x -> x.startsWith("REAPED ") || x.startsWith("FAIL "));
            assertTrue(l.startsWith("REAPED " + k + " "), () -> "reaping child " + k + ": " + l + "\n" + p.tails());
            st.add(Integer.parseInt(TreeFixtures.fields(l).get("status")));
        }
        return st;
    }

    private static void assertStates(Started s, Proc p) {
        p.send("states");
        for (long k : s.kids()) {
            String l = p.await("STATE " + k, x -> x.startsWith("STATE "));
            assertEquals("STATE " + k + " Z " + s.proc().pid(), l, "child " + k + " is a zombie of the parent");
        }
    }

    private Path checkpoint(Started s, String name) {
        List<Long> codes = new ArrayList<>();
        for (long k : s.kids()) codes.add(TreeFixtures.exitCode(k));
        assertEquals(EXPECTED.stream().map(Integer::longValue).toList(), codes, "exit codes in /proc/PID/stat");
        Path image = tmp.resolve(name + ".img");
        Cryo.checkpoint(cleanup, s.proc().pid(), image);
        Tree tree = TreeFixtures.tree(image);
        assertEquals(5, tree.processes().size(), "TREE: the parent and 4 zombies");
        assertEquals(s.proc().pid(), tree.root().pid());
        for (int i = 0; i < 4; i++) {
            long k = s.kids().get(i);
            Tree.Process z = tree.processes().stream().filter(p -> p.pid() == k).findFirst()
                    .orElseThrow(() -> new AssertionError("zombie " + k + " is not in the TREE"));
            assertTrue(z.zombie(), "TREE: " + k + " is a zombie");
            assertEquals(s.proc().pid(), z.ppid(), "TREE: " + k + "'s parent");
            assertEquals(EXPECTED.get(i), z.waitStatus(), "TREE: " + k + "'s wait status");
            assertEquals(0, z.tids().length, "TREE: a zombie has no threads");
        }
        String show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        assertEquals(4, show.split("zombie_status", -1).length - 1, "cryo show marks 4 zombies:\n" + show);
        s.proc().awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(s.all(), Duration.ofSeconds(30));
        return image;
    }

    private Proc restart(Started s, Path image) {
        Instant t0 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, s.proc().pid());
        subreaper.foreign(cleanup, s.all(), t0, "restored zombie");
        long parent = s.proc().pid();
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        // restored and released: the parent runs, untraced, as the child of cryo restart
        while (!(Procfs.alive(parent) && Procfs.ppid(parent) == rest.pid() && Procfs.tracerPid(parent) == 0)) {
            if (!rest.isAlive()) {
                rest.err().awaitEofQuietly(Duration.ofSeconds(5));
                throw new AssertionError("cryo restart exited with " + rest.process().exitValue() + " before the parent ran:\n"
                        + rest.tails());
            }
            if (System.nanoTime() > deadline) throw new AssertionError("the parent was not restored in time:\n" + rest.tails());
            Procfs.sleep(Duration.ofMillis(10));
        }
        for (long k : s.kids()) {
            Procfs.awaitState(k, 'Z', Duration.ofSeconds(60));
            assertEquals(s.proc().pid(), Procfs.ppid(k), "restored zombie " + k + "'s parent");
        }
        Procfs.assertRunningUntraced(s.proc().pid(), "the restored parent");
        assertEquals(rest.pid(), Procfs.ppid(s.proc().pid()));
        return rest;
    }

    @Test
    void fixtureReportsTheStatusesWithoutCryo() {
        Started s = start(false);
        assertStates(s, s.proc());
        assertEquals(Map.of("count", s.count(), "pending", 0, "blocked", 0), count(s.proc(), "count"));
        assertEquals(EXPECTED, reap(s, s.proc()));
        s.proc().send("quit");
        assertEquals(0, s.proc().awaitExit(Timeouts.EXIT));

        Started p = start(true);
        assertEquals(Map.of("count", p.count(), "pending", 1, "blocked", 1), count(p.proc(), "count"));
        assertEquals(Map.of("count", p.count() + 1, "pending", 0, "blocked", 0), count(p.proc(), "unblock"));
        assertEquals(EXPECTED, reap(p, p.proc()));
        p.proc().send("quit");
        assertEquals(0, p.proc().awaitExit(Timeouts.EXIT));
    }

    @Test
    void zombiesComeBackWithTheirStatusesAndNoExtraSigchld() {
        Started s = start(false);
        Path image = checkpoint(s, "zombies");
        Proc rest = restart(s, image);
        assertStates(s, rest);
        Procfs.sleep(Duration.ofMillis(200)); // a stray SIGCHLD would be handled by now
        assertEquals(Map.of("count", s.count(), "pending", 0, "blocked", 0), count(rest, "count"),
                "no SIGCHLD arrived or is pending after restart");
        assertEquals(Map.of("count", s.count(), "pending", 0, "blocked", 0), count(rest, "unblock"));
        List<Integer> got = reap(s, rest);
        assertEquals(EXPECTED, got, "wait statuses after restart (exit 0, exit 42, SIGKILL, SIGSEGV)");
        assertEquals(s.count(), count(rest, "count").get("count"), "reaping brings no SIGCHLD");
        for (long k : s.kids()) Procfs.awaitGone(k, Timeouts.EXIT);
        rest.send("quit");
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }

    @Test
    void aPendingSigchldIsDeliveredOnceAfterRestart() {
        Started s = start(true);
        assertEquals(Map.of("count", s.count(), "pending", 1, "blocked", 1), count(s.proc(), "count"));
        Path image = checkpoint(s, "pending");
        Proc rest = restart(s, image);
        assertEquals(Map.of("count", s.count(), "pending", 1, "blocked", 1), count(rest, "count"),
                "SIGCHLD is still blocked and pending after restart, and was not delivered");
        assertEquals(Map.of("count", s.count() + 1, "pending", 0, "blocked", 0), count(rest, "unblock"),
                "unblocking delivers the pending SIGCHLD exactly once");
        assertEquals(EXPECTED, reap(s, rest));
        assertEquals(s.count() + 1, count(rest, "count").get("count"));
        rest.send("quit");
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }

    @Test
    void zombiesSurviveASecondCheckpoint() {
        Started s = start(false);
        Path first = checkpoint(s, "first");
        Proc rest = restart(s, first);
        assertEquals(s.count(), count(rest, "count").get("count"));
        Path second = checkpoint(s, "second");
        assertEquals(128 + Os.SIGKILL, rest.awaitExit(Timeouts.EXIT), "cryo restart reports the parent killed by the checkpoint");
        Proc again = restart(s, second);
        assertEquals(Map.of("count", s.count(), "pending", 0, "blocked", 0), count(again, "count"));
        assertEquals(EXPECTED, reap(s, again));
        again.send("quit");
        assertEquals(0, again.awaitExit(Timeouts.EXIT));
    }
}
