package cryo.apps;

import static org.junit.jupiter.api.Assertions.assertEquals;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Fixtures;
import cryo.testing.Procfs;
import cryo.testing.Tmux;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * python3 -i in a tmux pane, checkpointed and restarted by `cryo restart` typed into the pane's shell: it keeps
 * its variables, reads the terminal in its own modes (each typed line echoed once), Ctrl-C is its
 * KeyboardInterrupt (not the end of cryo), and exit() gives the shell its terminal back as it was.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class PythonTerminalTest {
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
    void pythonComesBackInThePane() {
        PaneSteps.start(pane);
        Path python = Fixtures.python();
        String stty = PaneSteps.stty(pane, tmp);
        pane.type(python + " -q -i");
        long pid = pane.awaitForeground("python3");
        pane.awaitCount("^>>>", 1);
        pane.typeExpecting("x = 42", "^>>>");

        PaneSteps.checkpointAndKill(cleanup, reaper, pane, pid, tmp.resolve("python.img"));
        long cryo = PaneSteps.restartInPane(cleanup, pane, pid, tmp.resolve("python.img"));

        pane.typeExpecting("print(x)", "^42$");
        assertEquals(1, PaneSteps.count("print\\(x\\)", pane.everything()), "the typed line is echoed once" + pane.dump());
        pane.expectMore("^KeyboardInterrupt$", () -> pane.keys("C-c"));
        pane.typeExpecting("print(x + 1)", "^43$");
        Procfs.assertRunningUntraced(pid, "python after Ctrl-C");
        Procfs.assertRunningUntraced(cryo, "cryo restart after Ctrl-C");
        assertEquals(cryo, Procfs.ppid(pid), "python is still cryo restart's child");
        pane.type("exit()");
        PaneSteps.assertShellBack(pane, tmp, pid, cryo, stty);
    }
}
