package cryo.apps;

import static org.junit.jupiter.api.Assertions.assertEquals;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Tmux;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * An interactive bash (a child of the pane's shell) checkpointed and restarted by `cryo restart` typed into the
 * pane: same $$, its history kept, typed lines echoed once (readline's modes, not the outer shell's), and exit
 * gives the outer shell its terminal back as it was.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class BashTerminalTest {
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
    void bashComesBackInThePane() {
        PaneSteps.start(pane);
        Path bash = PaneSteps.need("bash", "bash");
        String stty = PaneSteps.stty(pane, tmp);
        pane.type("PS1='[inner]$ ' " + bash + " --norc --noprofile");
        long pid = pane.awaitForeground("bash");
        pane.awaitCount("^\\[inner\\]\\$", 1);
        String shown = pane.typeExpecting("echo mark1 $$", "^mark1 \\d+$");
        Matcher m = Pattern.compile("^mark1 (\\d+)$", Pattern.MULTILINE).matcher(shown);
        m.find();
        assertEquals(pid, Long.parseLong(m.group(1)), "the inner bash is the terminal's foreground job" + pane.dump());
        pane.awaitCount("^\\[inner\\]\\$", 2);

        PaneSteps.checkpointAndKill(cleanup, reaper, pane, pid, tmp.resolve("bash.img"));
        long cryo = PaneSteps.restartInPane(cleanup, pane, pid, tmp.resolve("bash.img"));

        // the first line read after the restart: the one a terminal left in the shell's modes echoes twice
        // (the terminal's echo, then readline's: bash prepares the terminal itself only for the next line)
        pane.typeExpecting("echo pid$$", "^pid" + pid + "$");
        assertEquals(1, PaneSteps.count(Pattern.quote("echo pid$$"), pane.everything()), "the typed line is echoed once" + pane.dump());
        pane.typeExpecting("history | tail", "^\\s*\\d+\\s+echo mark1 \\$\\$$");
        pane.type("exit");
        PaneSteps.assertShellBack(pane, tmp, pid, cryo, stty);
    }
}
