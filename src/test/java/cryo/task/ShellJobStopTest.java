package cryo.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A shell job stopped with ^Z before its checkpoint, in a real terminal: an interactive bash in a pane of a
 * private tmux server runs `python3 -i`, y = 7 is set and ^Z stops it (bash: "Stopped"). It is checkpointed
 * and killed from outside; `cryo restart IMG` typed in the pane brings it back stopped, and cryo's job with it
 * (bash: "Stopped ... cryo restart"); `fg` gives python the terminal: print(y) prints 7, exit() ends python
 * and cryo, and bash reads commands again.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ShellJobStopTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    private final String server = "cryo-test-jobstop-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
    private long serverPid;

    private String tmux(String... args) {
        List<String> cmd = new ArrayList<>(List.of("tmux", "-L", server, "-f", "/dev/null"));
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("tmux " + args[0] + " hung");
            }
            if (p.exitValue() != 0) throw new AssertionError("tmux " + String.join(" ", args) + " exited " + p.exitValue() + ": " + out);
            return out;
        } catch (IOException e) {
            throw new AssertionError("cannot run tmux: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private String screen() {
        return tmux("capture-pane", "-p", "-t", "s");
    }

    private void type(String keys) {
        tmux("send-keys", "-t", "s", "-l", keys);
        tmux("send-keys", "-t", "s", "Enter");
    }

    /** Polls the pane until a line of it matches; fails with the screen after the timeout. */
    private String awaitLine(String what, Predicate<String> line) {
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (true) {
            String s = screen();
            for (String l : s.split("\n")) if (line.test(l.strip())) return l.strip();
            if (System.nanoTime() > deadline) throw new AssertionError("the pane never showed " + what + ":\n" + s);
            Procfs.sleep(Duration.ofMillis(20));
        }
    }

    private void await(String what, java.util.function.BooleanSupplier done) {
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError(what + ":\n" + screen());
            Procfs.sleep(Duration.ofMillis(20));
        }
    }

    @AfterEach
    void killServer() {
        try {
            tmux("kill-server");
        } catch (AssertionError e) {
            // not started, or already gone
        }
        if (serverPid > 0) ProcessHandle.of(serverPid).ifPresent(ProcessHandle::destroyForcibly);
        try {   // a server killed by a signal leaves its socket (TMUX_TMPDIR or /tmp, then tmux-UID/NAME)
            String dir = java.util.Objects.requireNonNullElse(System.getenv("TMUX_TMPDIR"), "/tmp");
            Object uid = java.nio.file.Files.getAttribute(java.nio.file.Path.of("/proc/self"), "unix:uid");
            java.nio.file.Files.deleteIfExists(java.nio.file.Path.of(dir, "tmux-" + uid, server));
        } catch (java.io.IOException e) {
            // nothing to delete
        }
    }

    @Test
    void aJobStoppedWithCtrlZComesBackStoppedAndFgResumesIt() {
        stoppedJob(false);
    }

    /**
     * bg first: python runs in the background waiting for input, and when it reads the terminal SIGTTIN stops
     * it; fg makes cryo's group the foreground, and cryo hands the terminal on to python and continues it
     * when it stops by SIGTTIN (or at once if it was stopped already).
     */
    @Test
    void aJobStoppedWithCtrlZRunsInTheBackgroundWithBgThenFgResumesIt() {
        stoppedJob(true);
    }

    private void stoppedJob(boolean bgFirst) {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("tmux");
        Fixtures.assumeTool("bash");
        Path python = Fixtures.python();
        Instant t0 = Instant.now();
        String cp = System.getenv().getOrDefault("CRYO_CP", Cryo.root().resolve("target").resolve("classes").toString());
        tmux("new-session", "-d", "-s", "s", "-x", "150", "-y", "50",
                "env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root TERM=screen CRYO_CP=" + cp + " PS1='sh> ' bash --norc --noprofile -i");
        serverPid = Long.parseLong(tmux("display-message", "-p", "-t", "s", "#{pid}").strip());
        long bash = Long.parseLong(tmux("display-message", "-p", "-t", "s", "#{pane_pid}").strip());
        cleanup.foreign(serverPid, t0, "tmux server");
        subreaper.foreign(cleanup, List.of(bash), t0, "the pane's bash");
        awaitLine("bash's prompt", l -> l.startsWith("sh>"));

        type(python + " -i");
        awaitLine("python's prompt", l -> l.startsWith(">>>"));
        var kids = TreeFixtures.children(bash);
        assertEquals(1, kids.size(), "bash runs python");
        long py = kids.first();
        cleanup.foreign(py, t0, "python");
        type("y = 7; print('SET' + 'Y')");
        awaitLine("SETY", l -> l.equals("SETY"));
        tmux("send-keys", "-t", "s", "C-z");
        awaitLine("bash's Stopped", l -> l.contains("Stopped") && l.contains("python"));
        Procfs.awaitState(py, 'T', Timeouts.EXIT);
        await("bash has the terminal again", () -> TerminalJobTest.tpgid(py) == bash);

        Path image = tmp.resolve("python.img");
        Cryo.checkpoint(cleanup, py, image);
        String show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        assertTrue(show.lines().anyMatch(l -> l.matches("JOB_STOP +pid=" + py + " signal=20 terminal=true")), () -> "JOB_STOP of python:\n" + show);
        await("python is gone", () -> !Procfs.exists(py));

        Instant t1 = Instant.now();
        type(Cryo.bin() + " restart " + image);
        awaitLine("cryo's job stopped", l -> l.contains("Stopped") && l.contains("restart"));
        long cryo = Procfs.ppid(py);
        cleanup.foreign(cryo, t1, "cryo restart");
        assertEquals(bash, Procfs.ppid(cryo), "cryo restart is bash's job");
        assertEquals('T', Procfs.state(py), "python is stopped");
        assertEquals(0, Procfs.tracerPid(py));
        Procfs.awaitState(cryo, 'T', Timeouts.EXIT);
        assertEquals(bash, TerminalJobTest.tpgid(py), "bash has the terminal");

        if (bgFirst) {
            type("bg");
            awaitLine("bg's report", l -> l.contains("restart") && l.endsWith("&"));
            type("fg");
            await("fg gives cryo's group the terminal", () -> TerminalJobTest.tpgid(py) == cryo || TerminalJobTest.tpgid(py) == py);
        } else {
            type("fg");
            await("fg gives python the terminal", () -> TerminalJobTest.tpgid(py) == py);
        }
        type("print(y)");
        awaitLine("7", l -> l.equals("7"));
        type("exit()");
        await("python and cryo end", () -> !Procfs.exists(py) && !Procfs.exists(cryo));
        type("echo S\"\"TATUS $?");
        assertEquals("STATUS 0", awaitLine("STATUS", l -> l.startsWith("STATUS ")), "cryo restart exits as python did, bash reads commands");
        type("exit");
        await("bash ends", () -> !Procfs.exists(bash) || Procfs.state(bash) == 'Z');
    }
}
