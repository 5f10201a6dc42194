package cryo.apps;

import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Tmux;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * script(1) in the pane runs a loop printing numbers on a pty pair of its own (inside the tree): restarted in the
 * pane, the pair is made again and the numbers go on; Ctrl-C reaches the loop through both terminals and ends it,
 * and script gives the shell its terminal modes back.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ScriptPtyTest {
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

    private static final String NUMBER = "^\\d{9}$";

    @Test
    void scriptGoesOnInThePane() {
        PaneSteps.start(pane);
        Path script = PaneSteps.need("script", "bsdutils");
        PaneSteps.need("date", "coreutils");
        String stty = PaneSteps.stty(pane, tmp);
        pane.type(script + " -q -c 'bash -c \"while :; do date +%N; sleep 0.1; done\"' /dev/null");
        long pid = pane.awaitForeground("script");
        pane.awaitCount(NUMBER, 3);
        Path image = tmp.resolve("script.img");

        PaneSteps.checkpointAndKill(cleanup, reaper, pane, pid, image);
        long cryo = PaneSteps.restartInPane(cleanup, pane, pid, image);

        String restartLine = Cryo.bin() + " restart " + image;
        String shown = awaitNumbersAfter(restartLine, 5);
        assertTrue(shown.contains(restartLine), shown);
        pane.keys("C-c");
        PaneSteps.assertShellBack(pane, tmp, pid, cryo, stty);
    }

    /** Waits until at least n numbers follow the `cryo restart` line in the pane. */
    private String awaitNumbersAfter(String restartLine, int n) {
        long deadline = System.nanoTime() + cryo.testing.Timeouts.CRYO.toNanos();
        while (true) {
            String s = pane.everything();
            int at = s.lastIndexOf(restartLine);
            if (at >= 0 && PaneSteps.count(NUMBER, s.substring(at)) >= n) return s;
            if (System.nanoTime() > deadline) throw new AssertionError("fewer than " + n + " numbers after the restart" + pane.dump());
            cryo.testing.Procfs.sleep(java.time.Duration.ofMillis(50));
        }
    }
}
