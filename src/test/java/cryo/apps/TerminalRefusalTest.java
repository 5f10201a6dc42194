package cryo.apps;

import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Procfs;
import cryo.testing.Tmux;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A program that holds, at an fd above 2, a terminal that is not its controlling terminal cannot be given it
 * back: the checkpoint is refused with one line naming the fd and the terminal, and the program runs on
 * untouched. (Its own controlling terminal at fd 3, as less holds it, is accepted: LessTerminalTest.)
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class TerminalRefusalTest {
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

    /** A terminal the tree does not control (another tmux window's) at fd 3. */
    @Test
    void anotherTerminalAtFd3IsRefused() {
        PaneSteps.start(pane);
        String other = pane.otherTerminal();
        assertRefused("\"" + other + "\"", other);
    }

    /** A program opens the terminal at `path` (a Python expression) and sleeps; its checkpoint names fd and terminal. */
    private void assertRefused(String path, String tty) {
        Path python = Fixtures.python();
        pane.type(python + " -c 'import os, time; fd = os.open(" + path + ", os.O_RDWR | os.O_NOCTTY); print(\"HOLDS\", fd, flush=True); time.sleep(600)'");
        long pid = pane.awaitForeground("python3");
        String shown = pane.awaitCount("^HOLDS \\d+$", 1);
        String fd = shown.lines().filter(l -> l.matches("HOLDS \\d+")).findFirst().orElseThrow().substring(6);
        assertTrue(Integer.parseInt(fd) > 2, shown);

        Path image = tmp.resolve("refused.img");
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(pid), "-o", image.toString()).assertOneLineError();
        assertTrue(line.contains("fd " + fd) && (line.contains(tty) || (path.contains("/dev/tty") && line.contains("/dev/tty"))),
                () -> "the line names fd " + fd + " and the terminal (" + tty + " or /dev/tty): " + line);
        assertTrue(!Files.exists(image), "no image is left behind");
        Procfs.assertRunningUntraced(pid, "the program whose checkpoint was refused");

        pane.keys("C-c");
        PaneSteps.awaitShell(pane, "after Ctrl-C ended the program");
        Procfs.awaitGone(pid, cryo.testing.Timeouts.EXIT);
    }
}
