package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import cryo.task.Subreaper;
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
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pty pairs inside the tree (cryo.tty) with the fixture src/test/c/ptys.c, which checks everything itself:
 * the bytes waiting both ways (a partial canonical line stays partial, a line ended by EOF, output with its
 * echoes), modes, window size, packet mode, a locked pair never opened, and a child session leader whose
 * controlling terminal is a slave with its grandchild's group in the foreground. And `script` running a loop
 * in the tree continues after restart.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class PtyTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    /** Every check of the fixture's verify. */
    static final List<String> CHECKS = List.of("A-master-output", "A-slave-line-1", "A-slave-line-2", "A-slave-line-3",
            "A-partial-line-stays-partial", "A-slave-partial-line", "A-ttyname", "A-session-and-ctty", "A-foreground-group",
            "A-dev-tty-is-the-slave", "A-termios", "A-winsize", "B-locked", "B-packet-mode", "B-slave-opens", "B-packet-data",
            "C-slave-input", "C-master-output");

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    record Started(Proc proc, List<Long> pids) {
    }

    private Started start() {
        Path exe = Fixtures.compile(tmp, "ptys", Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc p = cleanup.start("ptys", new ProcessBuilder(exe.toString()).directory(tmp.toFile()));
        String l = p.await("READY", x -> x.startsWith("READY ") || x.startsWith("SETUP-FAIL"));
        if (!l.startsWith("READY ")) fail("the pty fixture could not set up: " + l + "\n" + p.tails());
        List<Long> pids = new ArrayList<>();
        for (String f : l.substring(6).trim().split(" ")) pids.add(Long.parseLong(f));
        assertEquals(p.pid(), pids.getFirst(), "READY names the fixture's pid first");
        subreaper.foreign(cleanup, pids.subList(1, pids.size()), t0, "ptys child");
        return new Started(p, pids);
    }

    /** "verify": every check OK, then DONE. */
    private static void verify(Proc p, String when) {
        p.send("verify");
        List<String> ok = new ArrayList<>(), fails = new ArrayList<>();
        while (true) {
            String l = p.await("the answer to verify (" + when + ")", x -> x.startsWith("OK ") || x.startsWith("FAIL ") || x.startsWith("DONE "));
            if (l.startsWith("OK ")) ok.add(l.substring(3));
            else if (l.startsWith("FAIL ")) fails.add(l);
            else break;
        }
        if (!fails.isEmpty()) fail(when + ": the pty fixture found problems:\n  " + String.join("\n  ", fails) + "\n" + p.tails());
        assertEquals(CHECKS.stream().sorted().toList(), ok.stream().sorted().toList(), when + ": every check passed");
    }

    private static void quit(Proc p, int status) {
        p.send("quit");
        p.await("BYE", l -> l.equals("BYE"));
        assertEquals(status, p.awaitExit(Timeouts.EXIT), "exit status after quit");
    }

    @Test
    void fixtureVerifiesItselfWithoutCryo() {
        Started s = start();
        verify(s.proc(), "without cryo");
        quit(s.proc(), 0);
    }

    @Test
    void pairsAndControllingTerminalComeBackAfterKill() {
        Started s = start();
        Path image = tmp.resolve("img");
        Cryo.checkpoint(cleanup, s.proc().pid(), image);
        String show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        assertEquals(3, show.lines().filter(l -> l.startsWith("PTY ")).count(), "three PTY records:\n" + show);
        assertTrue(show.lines().anyMatch(l -> l.startsWith("CTTY ") && l.contains("sid=" + s.pids().get(1))
                && l.contains("foreground=" + s.pids().get(2))), "a CTTY record for the child's session:\n" + show);
        assertEquals(128 + Os.SIGKILL, s.proc().awaitExit(Timeouts.EXIT), "the fixture is killed after the checkpoint");
        PipeFixtureTest.awaitGone(s.pids());
        Proc r = PipeFixtureTest.restart(cleanup, subreaper, image, s.pids());
        long child = s.pids().get(1), grandchild = s.pids().get(2);
        assertTrue(statField(child, 7) != 0 && statField(child, 7) == statField(grandchild, 7),
                "the session leader and its child have the same controlling terminal again");
        assertEquals(grandchild, statField(child, 8), "the grandchild's group is the terminal's foreground group");
        verify(r, "after restart");
        quit(r, 0);
    }

    @Test
    void leaveRunningLeavesBothQueuesAndModes() {
        Started s = start();
        Cryo.checkpoint(cleanup, s.proc().pid(), tmp.resolve("img"), "--leave-running");
        verify(s.proc(), "after checkpoint --leave-running");
        quit(s.proc(), 0);
    }

    /** The test: `script` running a loop in the tree (a pty pair inside it) continues after restart. */
    @Test
    void scriptLoopContinuesAfterRestart() {
        Fixtures.assumeTool("script");
        Instant t0 = Instant.now();
        Proc p = cleanup.start("script", new ProcessBuilder("script", "-q", "-c",
                "bash -c \"while :; do date +%N; sleep 0.1; done\"", "/dev/null").directory(tmp.toFile()));
        for (int i = 0; i < 3; i++) p.await("a line of the loop", l -> l.trim().matches("[0-9]+"));
        Path image = tmp.resolve("img");
        Cryo.checkpoint(cleanup, p.pid(), image);
        List<Long> pids = PipeFixtureTest.imagePids(cleanup, image);
        subreaper.foreign(cleanup, pids.subList(1, pids.size()), t0, "script's children");
        String show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        assertTrue(show.lines().anyMatch(l -> l.startsWith("PTY ")), "a PTY record:\n" + show);
        assertTrue(show.lines().anyMatch(l -> l.startsWith("CTTY ")), "bash's session has the pty as controlling terminal:\n" + show);
        assertEquals(128 + Os.SIGKILL, p.awaitExit(Timeouts.EXIT), "script is killed after the checkpoint");
        PipeFixtureTest.awaitGone(pids);
        Proc r = PipeFixtureTest.startRestart(cleanup, subreaper, image, pids);
        // new numbers come through the restored pair (a checkpoint may split a line: only whole new ones count)
        for (int i = 0; i < 5; i++) r.await("a line of the loop after restart", l -> l.trim().matches("[0-9]{6,}"));
    }

    /** Field n of /proc/PID/stat (7: tty_nr, 8: tpgid), counted as proc(5) does. */
    static long statField(long pid, int n) {
        try {
            String s = Procfs.read(Path.of("/proc/" + pid + "/stat"));
            String[] f = s.substring(s.lastIndexOf(')') + 2).trim().split(" ");
            return Long.parseLong(f[n - 3]);
        } catch (java.io.IOException e) {
            throw new AssertionError("pid " + pid + ": " + e, e);
        }
    }
}
