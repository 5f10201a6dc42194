package cryo.apps;

import static org.junit.jupiter.api.Assertions.assertEquals;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Tmux;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * vim (full screen, raw mode, its swap file open) restarted in the pane in normal mode: it draws its screen again
 * (SIGWINCH from cryo, or the test's Ctrl-L), and `i`, text, Escape, `:wq` save the file.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class VimTerminalTest {
    @RegisterExtension
    @Order(1)
    final Subreaper reaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @RegisterExtension
    @Order(3)
    final Tmux pane = new Tmux();

    @TempDir
    Path tmp;

    @Test
    void vimComesBackInThePane() throws IOException {
        PaneSteps.start(pane);
        Path vim = PaneSteps.need("vim", "vim");
        Path file = tmp.resolve("notes.txt");
        Files.writeString(file, "first line\n");
        String stty = PaneSteps.stty(pane, tmp);
        // no vimrc, no viminfo: the same screen wherever the test runs
        pane.type(vim + " -N -u NONE -i NONE " + file);
        long pid = pane.awaitForeground("vim");
        pane.awaitScreen("vim showing the file", s -> s.startsWith("first line\n~\n"));

        PaneSteps.checkpointAndKill(cleanup, reaper, pane, pid, tmp.resolve("vim.img"));
        long cryo = PaneSteps.restartInPane(cleanup, pane, pid, tmp.resolve("vim.img"));

        PaneSteps.awaitRedrawn(pane, "vim's screen", s -> s.startsWith("first line\n~\n"));
        pane.keys("i");
        pane.typeLiterally("added after restart ");
        pane.awaitScreen("the inserted text", s -> s.startsWith("added after restart first line\n"));
        pane.keys("Escape");
        pane.type(":wq");
        PaneSteps.assertShellBack(pane, tmp, pid, cryo, stty);
        assertEquals("added after restart first line\n", Files.readString(file), "vim saved the file" + pane.dump());
    }
}
