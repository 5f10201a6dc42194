package cryo.apps;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import cryo.testing.Tmux;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The progress line (cryo.memory.Progress): on a terminal, checkpoint and restart draw it in place and erase it
 * at the end; with stderr not a terminal they print nothing. CRYO_PROGRESS_DELAY=0 shows the line from the first
 * batch of pages, so that a small process shows it however fast the machine is. Everything the pane's programs
 * write is logged raw (tmux pipe-pane): the log has the line, the screen no longer does.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ProgressTerminalTest {
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

    private static final Map<String, String> NOW = Map.of("CRYO_PROGRESS_DELAY", "0");

    /** sleep with /dev/null at fds 0-2, the test JVM's child (it reaps it when the checkpoint kills it). */
    private Process sleeper() throws IOException {
        Process p = new ProcessBuilder("sleep", "100000").redirectInput(Path.of("/dev/null").toFile())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        cleanup.process(p);
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (!Procfs.stat(p.pid()).map(st -> st.comm().equals("sleep")).orElse(false)) {
            if (System.nanoTime() > deadline) throw new AssertionError("sleep did not start");
            Procfs.sleep(java.time.Duration.ofMillis(10));
        }
        return p;
    }

    private static void awaitGone(Process p) throws InterruptedException {
        assertTrue(p.waitFor(Timeouts.EXIT.toMillis(), TimeUnit.MILLISECONDS), "the checkpointed sleep exits");
        Procfs.awaitGone(p.pid(), Timeouts.EXIT);
    }

    @Test
    void onATerminalTheLineIsDrawnAndErased() throws Exception {
        PaneSteps.start(pane);
        Path log = tmp.resolve("pane.log");
        Files.createFile(log);
        pane.tmux("pipe-pane", "-t", "cryo:0", "cat >> " + log);
        Process target = sleeper();
        long pid = target.pid();
        Path image = tmp.resolve("sleep.img");

        pane.typeExpecting("CRYO_PROGRESS_DELAY=0 " + Cryo.bin() + " checkpoint " + pid + " -o " + image + "; echo CKPT-''DONE", "^CKPT-DONE$");
        awaitGone(target);
        cleanup.foreign(pid, Instant.now(), "the restored sleep");
        pane.typeExpecting("CRYO_PROGRESS_DELAY=0 " + Cryo.bin() + " restart -d " + image + "; echo REST-''DONE", "^REST-DONE$");
        pane.track(pid);
        Procfs.assertRunningUntraced(pid, "the restored sleep");

        String raw = awaitLog(log, "REST-DONE");
        for (String verb : new String[]{"checkpoint", "restart"}) {
            int at = raw.indexOf("\rcryo: " + verb + " ");
            assertTrue(at >= 0, "the " + verb + " progress line was drawn:\n" + printable(raw));
            assertTrue(raw.substring(at).matches("(?s)\rcryo: " + verb + " \\d+ of \\d+ MiB, \\d+\\.\\d GB/s, \\d+\\.\\d s left\033\\[K.*"),
                    "the " + verb + " line says bytes, rate and time left:\n" + printable(raw));
            assertTrue(raw.indexOf("\r\033[K", at + 1) > at, "the " + verb + " line was erased:\n" + printable(raw));
        }
        String screen = pane.screen();
        assertFalse(screen.contains("cryo: checkpoint") || screen.contains("cryo: restart"), "no progress line is left on the screen:\n" + screen);
    }

    @Test
    void notATerminalNothingIsPrinted() throws Exception {
        Fixtures.assumeRoot();
        Process target = sleeper();
        long pid = target.pid();
        Path image = tmp.resolve("sleep.img");
        var c = Cryo.runEnv(cleanup, NOW, "checkpoint", Long.toString(pid), "-o", image.toString()).assertOk();
        assertFalse(c.stderr().contains("cryo: checkpoint") || c.stderr().contains("\r"), "checkpoint printed no progress: " + c.describe());
        awaitGone(target);
        Instant t0 = Instant.now();
        cleanup.foreign(pid, t0, "the restored sleep");
        reaper.track(java.util.List.of(pid));
        var r = Cryo.runEnv(cleanup, NOW, "restart", "-d", image.toString()).assertOk();
        assertFalse(r.stderr().contains("cryo: restart") || r.stderr().contains("\r"), "restart printed no progress: " + r.describe());
        Procfs.assertRunningUntraced(pid, "the restored sleep");
    }

    /** The pane's raw output once it holds marker (pipe-pane writes it asynchronously). */
    private static String awaitLog(Path log, String marker) throws IOException {
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (true) {
            String s = Files.readString(log, StandardCharsets.ISO_8859_1);
            if (s.contains(marker + "\r\n") || s.contains(marker + "\n")) return s;
            if (System.nanoTime() > deadline) throw new AssertionError("the pane's log has no " + marker + ":\n" + printable(s));
            Procfs.sleep(java.time.Duration.ofMillis(50));
        }
    }

    private static String printable(String s) {
        return s.replace("\r", "\\r").replace("\033", "\\e");
    }
}
