package cryo.apps;

import static org.junit.jupiter.api.Assertions.assertEquals;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Fixtures;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import cryo.testing.Tmux;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A job stopped with Ctrl-Z before the checkpoint comes back stopped: the shell reports the `cryo restart` job
 * stopped, and `fg` resumes it where it was (python3 -i still has its variable).
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class StoppedJobTest {
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

    private static final String STOPPED = "^\\[\\d+\\]\\+\\s+Stopped\\s+";

    @Test
    void aStoppedJobComesBackStoppedAndResumesWithFg() {
        PaneSteps.start(pane);
        Path python = Fixtures.python();
        String stty = PaneSteps.stty(pane, tmp);
        pane.type(python + " -q -i");
        long pid = pane.awaitForeground("python3");
        pane.awaitCount("^>>>", 1);
        pane.typeExpecting("y = 7", "^>>>");
        pane.expectMore(STOPPED + ".*python3 -q -i$", () -> pane.keys("C-z"));
        Procfs.awaitState(pid, 'T', Timeouts.EXIT);
        PaneSteps.awaitShell(pane, "after Ctrl-Z");

        Path image = tmp.resolve("stopped.img");
        PaneSteps.checkpointAndKill(cleanup, reaper, pane, pid, image);
        String cryoStopped = STOPPED + ".*restart " + java.util.regex.Pattern.quote(image.toString()) + "$";
        int before = pane.count(cryoStopped);
        long cryo = PaneSteps.restartInPane(cleanup, pane, pid, image);
        pane.awaitCount(cryoStopped, before + 1);
        assertEquals('T', Procfs.state(pid), "the restored job is stopped" + pane.dump());
        assertEquals('T', Procfs.state(cryo), "cryo restart, the shell's job, is stopped with it" + pane.dump());
        PaneSteps.awaitShell(pane, "after the restored job stopped");

        pane.type("fg");
        pane.typeExpecting("print(y)", "^7$");
        Procfs.assertRunningUntraced(pid, "python after fg");
        pane.type("exit()");
        PaneSteps.assertShellBack(pane, tmp, pid, cryo, stty);
    }
}
