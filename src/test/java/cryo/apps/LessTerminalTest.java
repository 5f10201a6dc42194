package cryo.apps;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Tmux;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * less (a full-screen program in raw mode, reading keys from /dev/tty at fd 3) restarted in the pane: it draws
 * its screen again (after the SIGWINCH cryo sends, or the Ctrl-L the test types if it did not), G shows the
 * file's last line, q quits and the shell's terminal is as before.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class LessTerminalTest {
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
    void lessComesBackInThePane() throws IOException {
        PaneSteps.start(pane);
        Path less = PaneSteps.need("less", "less");
        Path file = tmp.resolve("numbers.txt");
        Files.writeString(file, IntStream.rangeClosed(1, 500).mapToObj(i -> "line " + i + "\n").collect(Collectors.joining()));
        String stty = PaneSteps.stty(pane, tmp);
        pane.type(less + " " + file);
        long pid = pane.awaitForeground("less");
        pane.awaitScreen("less showing the first page", s -> s.startsWith("line 1\n") && s.contains("line 39\n"));

        PaneSteps.checkpointAndKill(cleanup, reaper, pane, pid, tmp.resolve("less.img"));
        long cryo = PaneSteps.restartInPane(cleanup, pane, pid, tmp.resolve("less.img"));

        PaneSteps.awaitRedrawn(pane, "less's first page", s -> s.startsWith("line 1\n") && s.contains("line 39\n"));
        pane.keys("G");
        pane.awaitScreen("less showing the last line after G", s -> s.contains("\nline 500\n") && !s.contains("line 1\n"));
        pane.keys("q");
        PaneSteps.assertShellBack(pane, tmp, pid, cryo, stty);
    }
}
