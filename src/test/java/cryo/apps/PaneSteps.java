package cryo.apps;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import cryo.testing.Tmux;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The steps the terminal tests share, in a tmux pane ({@link Tmux}): a program started by the pane's shell is
 * checkpointed from the test (kill mode), and restarted by `cryo restart IMAGE` typed into the same shell.
 */
final class PaneSteps {
    private PaneSteps() {}

    /**
     * The program on PATH. Missing: the test skips with the reason printed, except in CI (CI set), where .ci/run
     * installs it and its absence is a failure.
     */
    static Path need(String tool, String apt) {
        var p = Fixtures.onPath(tool);
        if (p.isPresent()) return p.get();
        String why = tool + " is not installed (apt-get install " + apt + ")";
        if (System.getenv("CI") != null) fail(why + ", but .ci/run installs it");
        System.out.println("SKIPPED: " + why);
        assumeTrue(false, why);
        return null;
    }

    /** Root, tmux, and the pane started. */
    static Tmux start(Tmux pane) {
        Fixtures.assumeRoot();
        need("tmux", "tmux");
        need("stty", "coreutils");
        return pane.start();
    }

    /** `stty -a` of the pane's terminal as its shell runs a command (the shell's own modes). */
    static String stty(Tmux pane, Path tmp) {
        Path out = tmp.resolve("stty-" + System.nanoTime());
        // the echo of the typed line has no "STTY-DONE"
        pane.typeExpecting("stty -a > " + out + "; echo STTY-''DONE", "^STTY-DONE$");
        try {
            return Files.readString(out);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /** The shell waits for a command: the cursor is on its prompt (wherever a full-screen program left it). */
    static void awaitShell(Tmux pane, String when) {
        pane.awaitCursorLine("the shell's prompt at the cursor " + when, l -> l.endsWith(Tmux.PROMPT.strip()));
    }

    /**
     * Checkpoints the tree of pid (kill mode), waits until each of its processes is gone and the shell prompts
     * again. Its processes are the image's (`cryo show`: a short-lived child, like script's `sleep`, may have
     * come and gone since the test looked); the subreaper reaps those orphaned by the kill, whose pids the
     * restart needs.
     */
    static void checkpointAndKill(Cleanup cleanup, Subreaper reaper, Tmux pane, long pid, Path image) {
        reaper.track(Tmux.descendants(pid));
        Cryo.checkpoint(cleanup, pid, image);
        String show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        List<Long> tree = Pattern.compile("\\{pid=(\\d+)(?: host_pid=\\d+)? comm=").matcher(show).results()
                .map(m -> Long.parseLong(m.group(1))).toList();
        if (!tree.contains(pid)) fail("cryo show lists no process " + pid + ":\n" + show);
        reaper.track(tree);
        for (long p : tree) Procfs.awaitGone(p, Timeouts.EXIT);
        awaitShell(pane, "after the checkpoint killed " + pid);
    }

    /**
     * Types `cryo restart IMAGE` into the pane and waits until pid is back; returns cryo restart's pid (its
     * parent), registered for cleanup like pid.
     */
    static long restartInPane(Cleanup cleanup, Tmux pane, long pid, Path image) {
        Instant t0 = Instant.now();
        cleanup.foreign(pid, t0, "the restored program");
        pane.type(Cryo.bin() + " restart " + image);
        long cryo = pane.awaitRestored(pid);
        cleanup.foreign(cryo, t0, "cryo restart in the pane");
        return cryo;
    }

    /** After the program ended: cryo restart is gone too, the shell prompts, and its terminal is as before. */
    static void assertShellBack(Tmux pane, Path tmp, long pid, long cryo, String sttyBefore) {
        awaitShell(pane, "after the restored program ended");
        Procfs.awaitGone(pid, Timeouts.EXIT);
        Procfs.awaitGone(cryo, Timeouts.EXIT);
        assertEquals(sttyBefore, stty(pane, tmp), "the shell's terminal modes (stty -a) are back as before" + pane.dump());
    }

    /**
     * A full-screen program restarted in the pane draws its screen again: the whole screen shows its content and
     * not the shell's lines typed over it meanwhile (the `cryo restart` line). It redraws on the SIGWINCH cryo
     * sends; if it has not within a few seconds the test types Ctrl-L (the redraw key of less and vim), and says so.
     */
    static void awaitRedrawn(Tmux pane, String what, java.util.function.Predicate<String> content) {
        java.util.function.Predicate<String> redrawn = s -> content.test(s) && !s.contains(" restart ") && !s.contains(Tmux.PROMPT.strip());
        if (pane.screenWithin(java.time.Duration.ofSeconds(5), redrawn)) {
            System.out.println("[PaneSteps] " + what + " redrawn after the restart without Ctrl-L");
            return;
        }
        System.out.println("[PaneSteps] " + what + " not redrawn within 5 s of the restart: typing Ctrl-L");
        pane.keys("C-l");
        pane.awaitScreen(what + " redrawn after Ctrl-L", redrawn);
    }

    /** The pattern's occurrences (MULTILINE) in the text. */
    static int count(String regex, String text) {
        return Tmux.count(Pattern.compile(regex, Pattern.MULTILINE), text);
    }
}
