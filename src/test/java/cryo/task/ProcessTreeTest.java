package cryo.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.Tree;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
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
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A three-level C tree (src/test/c/tree.c): root with children A (2 pthreads) and B (a second session); A's
 * child A1 leads its own process group, B's child B1 has 3 pthreads. After checkpoint and restart every
 * process has its pid, parent, group, session and threads (same tids) again, and the fixture's own check
 * (ids, memory patterns, thread counters) passes; the restored parents reap their children normally.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class ProcessTreeTest {
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

    /** One "PROC role pid ppid pgid sid threads tids" line of the fixture. */
    record Member(String role, long pid, long ppid, long pgid, long sid, int threads, TreeSet<Long> tids) {
        static Member parse(String l) {
            String[] f = l.split(" ");
            TreeSet<Long> t = new TreeSet<>();
            for (String x : f[7].split(",")) t.add(Long.parseLong(x));
            return new Member(f[1], Long.parseLong(f[2]), Long.parseLong(f[3]), Long.parseLong(f[4]),
                    Long.parseLong(f[5]), Integer.parseInt(f[6]), t);
        }
    }

    /** The running fixture: the root's Proc and every member by role (root, A, A1, B, B1). */
    record Running(Proc proc, Map<String, Member> members, Instant started) {
        long pid(String role) {
            return members.get(role).pid();
        }

        List<Long> pids() {
            return members.values().stream().map(Member::pid).toList();
        }
    }

    private Running start() {
        Path exe = Fixtures.compile(tmp, "tree", Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc p = cleanup.start("tree", new ProcessBuilder(exe.toString()));
        Map<String, Member> m = new LinkedHashMap<>();
        while (true) {
            String l = p.await("PROC/READY", s -> s.startsWith("PROC ") || s.startsWith("READY ") || s.startsWith("FAIL"));
            if (l.startsWith("FAIL")) throw new AssertionError("the tree fixture failed to start: " + l + "\n" + p.tails());
            if (l.startsWith("READY ")) break;
            Member mem = Member.parse(l);
            m.put(mem.role(), mem);
        }
        assertEquals(List.of("root", "A", "A1", "B", "B1"), List.copyOf(m.keySet()));
        assertEquals(p.pid(), m.get("root").pid(), "the root is the process the JVM started");
        for (Member mem : m.values())
            if (!mem.role().equals("root")) subreaper.foreign(cleanup, List.of(mem.pid()), t0, "tree member " + mem.role());
        Running r = new Running(p, m, t0);
        assertStructure(r, "the original tree");
        for (Member mem : m.values())
            assertProcMatches(mem, "the original " + mem.role(),
                    mem.role().equals("root") ? ProcessHandle.current().pid() : mem.ppid());
        return r;
    }

    /** The fixture's own account: A1 leads its group, B leads a session that B1 is in, threads 1/3/1/1/4. */
    private static void assertStructure(Running r, String what) {
        Map<String, Member> m = r.members();
        Member root = m.get("root"), a = m.get("A"), a1 = m.get("A1"), b = m.get("B"), b1 = m.get("B1");
        assertEquals(root.pid(), a.ppid(), what + ": A's parent");
        assertEquals(root.pid(), b.ppid(), what + ": B's parent");
        assertEquals(a.pid(), a1.ppid(), what + ": A1's parent");
        assertEquals(b.pid(), b1.ppid(), what + ": B1's parent");
        assertEquals(a1.pid(), a1.pgid(), what + ": A1 leads its own group");
        assertEquals(b.pid(), b.sid(), what + ": B leads a session");
        assertEquals(b.pid(), b1.sid(), what + ": B1 is in B's session");
        assertTrue(root.sid() != b.sid(), what + ": two sessions");
        assertEquals(List.of(1, 3, 1, 1, 4), m.values().stream().map(Member::threads).toList(), what + ": thread counts");
    }

    /** /proc agrees with the member: parent (unless -1), group, session, and exactly its threads. */
    private static void assertProcMatches(Member m, String what, long ppid) {
        Procfs.Stat s = Procfs.stat(m.pid()).orElseThrow(() -> new AssertionError(what + " (pid " + m.pid() + ") is gone"));
        if (ppid >= 0) assertEquals(ppid, s.ppid(), what + ": ppid");
        assertEquals(m.pgid(), s.pgrp(), what + ": pgid");
        assertEquals(m.sid(), s.session(), what + ": sid");
        assertEquals(m.tids(), TreeFixtures.tids(m.pid()), what + ": thread ids in /proc/" + m.pid() + "/task");
    }

    /** Checkpoints the whole tree (killing it unless extra says otherwise) and checks the TREE record. */
    private Path checkpoint(Running r, String name, String... extra) {
        Path image = tmp.resolve(name + ".img");
        Cryo.checkpoint(cleanup, r.pid("root"), image, extra);
        assertEquals("rw-------", Cryo.perms(image));
        Tree tree = TreeFixtures.tree(image);
        Map<Long, Tree.Process> byPid = new LinkedHashMap<>();
        for (Tree.Process p : tree.processes()) byPid.put((long) p.pid(), p);
        assertEquals(new TreeSet<>(r.pids()), new TreeSet<>(byPid.keySet()), "the TREE record holds exactly the 5 processes");
        assertEquals(r.pid("root"), tree.root().pid(), "the TREE starts with the root");
        for (Member m : r.members().values()) {
            Tree.Process p = byPid.get(m.pid());
            String w = "TREE entry of " + m.role();
            if (!m.role().equals("root")) assertEquals(m.ppid(), p.ppid(), w + ": ppid");
            assertEquals(m.pgid(), p.pgid(), w + ": pgid");
            assertEquals(m.sid(), p.sid(), w + ": sid");
            assertFalse(p.zombie(), w + ": not a zombie");
            TreeSet<Long> tids = new TreeSet<>();
            for (int t : p.tids()) tids.add((long) t);
            assertEquals(m.tids(), tids, w + ": thread ids");
            assertEquals(m.pid(), p.tids()[0], w + ": the leader comes first");
        }
        // parents before children, so restart can create each process from its parent
        List<Long> order = new ArrayList<>(byPid.keySet());
        for (Member m : r.members().values())
            if (!m.role().equals("root"))
                assertTrue(order.indexOf(m.ppid()) < order.indexOf(m.pid()), "TREE lists " + m.role() + " before its parent");
        // cryo show lists every process and thread
        String show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        for (Member m : r.members().values())
            for (long t : m.tids())
                assertTrue(show.contains(Long.toString(t)), "cryo show does not mention " + m.role() + "'s thread " + t + ":\n" + show);
        return image;
    }

    private void awaitTreeGone(Running r) {
        TreeFixtures.awaitAllGone(r.pids(), Duration.ofSeconds(30));
    }

    /** Restarts in the foreground and checks ids and threads from outside. */
    private Proc restartAndCompare(Running r, Path image) {
        Instant t0 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, r.pid("root"));
        subreaper.foreign(cleanup, r.pids(), t0, "restored tree member");
        rest.send("ppid");
        String l = rest.await("PPID", s -> s.startsWith("PPID "));
        assertEquals(rest.pid(), Long.parseLong(l.substring(5).trim()), "the restored root's parent is cryo restart");
        for (Member m : r.members().values())
            assertProcMatches(m, "the restored " + m.role(), m.role().equals("root") ? rest.pid() : m.ppid());
        for (long pid : r.pids()) Procfs.assertRunningUntraced(pid, "restored pid " + pid);
        return rest;
    }

    /** Sends quit: every parent reaps its children (status 0) and the root exits 0. */
    private static void quit(Proc p) {
        p.send("quit");
        String bye = p.await("BYE", s -> s.startsWith("BYE "));
        assertEquals("BYE 0 0", bye, "A and B exited 0 after reaping A1 and B1");
        assertEquals(0, p.awaitExit(Timeouts.EXIT), () -> "exit status; " + p.tails());
    }

    @Test
    void fixtureChecksItselfWithoutCryo() {
        Running r = start();
        r.proc().checkOk();
        r.proc().checkOk();
        quit(r.proc());
        awaitTreeGone(r);
    }

    @Test
    void wholeTreeComesBackWithPidsParentsGroupsSessionsAndThreads() {
        Running r = start();
        r.proc().checkOk();
        Path image = checkpoint(r, "tree");
        assertEquals(128 + Os.SIGKILL, r.proc().awaitExit(Timeouts.EXIT), "the tree is killed after the checkpoint");
        awaitTreeGone(r);

        Proc rest = restartAndCompare(r, image);
        rest.checkOk();
        Procfs.sleep(Duration.ofMillis(300));
        rest.checkOk();
        quit(rest);
        awaitTreeGone(r);
    }

    @Test
    void restoredTreeCanBeCheckpointedAgain() {
        Running r = start();
        Path first = checkpoint(r, "first");
        r.proc().awaitExit(Timeouts.EXIT);
        awaitTreeGone(r);
        Proc rest = restartAndCompare(r, first);
        rest.checkOk();

        Path second = checkpoint(r, "second");
        rest.awaitExit(Timeouts.EXIT);
        awaitTreeGone(r);
        Proc again = restartAndCompare(r, second);
        again.checkOk();
        quit(again);
        awaitTreeGone(r);
    }

    @Test
    void leaveRunningResumesTheWholeTree() {
        Running r = start();
        r.proc().checkOk();
        Path image = checkpoint(r, "leave", "--leave-running");
        for (Member m : r.members().values()) {
            Procfs.assertRunningUntraced(m.pid(), "the original " + m.role());
            for (long t : m.tids()) {
                char st = Procfs.stat(t).map(Procfs.Stat::state).orElse('?');
                assertTrue(st != 't' && st != 'T', "thread " + t + " of " + m.role() + " is left stopped: " + st);
            }
        }
        for (Member m : r.members().values())
            assertProcMatches(m, "the original " + m.role() + " after --leave-running",
                    m.role().equals("root") ? ProcessHandle.current().pid() : m.ppid());
        r.proc().checkOk(); // counters of every thread still advance
        quit(r.proc());
        awaitTreeGone(r);

        Proc rest = restartAndCompare(r, image);
        rest.checkOk();
        quit(rest);
        awaitTreeGone(r);
    }

    @Test
    void aPidInUseFailsTheWholeRestartAndLeavesNothing() {
        Running r = start();
        Path image = checkpoint(r, "busy", "--leave-running");
        // keep only B1 (a leaf, created last) alive: its pid is in use at restart
        long b1 = r.pid("B1");
        Instant b1Start = ProcessHandle.of(b1).flatMap(h -> h.info().startInstant()).orElseThrow();
        List<Long> others = r.pids().stream().filter(p -> p != b1).toList();
        for (long p : List.of(r.pid("A1"), r.pid("B"), r.pid("A"))) assertTrue(Os.kill(p, Os.SIGKILL));
        assertTrue(Os.kill(r.pid("root"), Os.SIGKILL));
        r.proc().awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(others, Duration.ofSeconds(30));
        assertTrue(Procfs.alive(b1), "B1 still runs");

        subreaper.off(); // orphans of the failed restart must show up as leftovers, not as the JVM's children
        Leftovers before = Leftovers.snapshot();
        String line = Cryo.restartExpectingFailure(cleanup, image, r.pid("root")).assertOneLineError();
        assertTrue(r.members().get("B1").tids().stream().anyMatch(t -> line.contains(Long.toString(t))),
                "the error names the pid in use (" + b1 + ", or one of its thread ids): " + line);
        // every process created before the failure was killed again
        TreeFixtures.awaitNoneAlive(others, Duration.ofSeconds(15));
        before.assertNone(cleanup, "a restart that failed on a pid in use");
        assertEquals(b1Start, ProcessHandle.of(b1).flatMap(h -> h.info().startInstant()).orElse(null),
                "B1 is still the original process");
        assertTrue(Os.kill(b1, Os.SIGKILL));
        TreeFixtures.awaitAllGone(List.of(b1), Duration.ofSeconds(30)); // adopted by the JVM when B died
    }
}
