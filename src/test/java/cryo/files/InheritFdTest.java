package cryo.files;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A pipe that leads outside the tree at fd 5: refused by default, accepted with --external, and connected
 * at restart to the fd given with --inherit-fd (CRIU's --inherit-fd).
 */
class InheritFdTest {
    private static final Path CRYO = Path.of(System.getProperty("user.dir"), "bin", "cryo");
    private static final String WRITER = "import os, time\nos.closerange(6, 4096)\nn = 0\nwhile True:\n"
            + "    n += 1\n    os.write(5, b'%d\\n' % n)\n    time.sleep(0.05)\n";
    private final List<Long> pids = new ArrayList<>();

    @TempDir
    Path dir;

    @AfterEach
    void cleanup() {
        for (long pid : pids) ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    }

    private static Process sh(String script) throws IOException {
        return new ProcessBuilder("bash", "-c", script).redirectErrorStream(false).start();
    }

    private static String run(String script, int wantExit) throws Exception {
        Process p = sh(script);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "timed out: " + script);
        String err = new String(p.getErrorStream().readAllBytes());
        String out = new String(p.getInputStream().readAllBytes()).trim();
        if (wantExit == 0) assertEquals(0, p.exitValue(), script + "\n" + err);
        else assertNotEquals(0, p.exitValue(), script + "\n" + out);
        return wantExit == 0 ? out : err.trim();
    }

    /** The first line the process prints, waiting at most `seconds`. */
    private static String firstLine(Process p, int seconds) throws Exception {
        var reader = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream()));
        var line = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return reader.readLine();
            } catch (IOException e) {
                return null;
            }
        });
        String l = line.get(seconds, TimeUnit.SECONDS);
        assertTrue(l != null, "no output from " + p.info().commandLine().orElse("?"));
        return l.trim();
    }

    private static long lines(Path f) throws IOException {
        return Files.exists(f) ? Files.readAllLines(f).size() : 0;
    }

    @Test
    void anOutsidePipeAtFd5IsRefusedThenMappedExplicitly() throws Exception {
        Path out1 = dir.resolve("out1"), out2 = dir.resolve("out2"), img = dir.resolve("img"), prog = dir.resolve("w.py");
        Files.writeString(prog, WRITER);
        // bash opens a pipe to a cat of its own, then starts the writer with the pipe at fd 5: the reader
        // is bash's child, not the writer's, so the pipe leads outside the writer's tree.
        Process outer = sh("exec 3>&- 4>&- 8> >(cat > " + out1 + "); python3 " + prog + " 5>&8 8>&- </dev/null >/dev/null 2>&1 & echo $!; wait $!");
        pids.add(outer.pid());
        long pid = Long.parseLong(firstLine(outer, 30));
        pids.add(pid);
        for (int i = 0; i < 100 && lines(out1) < 3; i++) Thread.sleep(50);
        String link = Files.readSymbolicLink(Path.of("/proc/" + pid + "/fd/5")).toString();
        assertTrue(link.startsWith("pipe:"), link);

        String refused = run(CRYO + " checkpoint " + pid + " -o " + img, 1);
        assertTrue(refused.startsWith("cryo: task " + pid + ": fd 5 is " + link) && refused.contains("outside the tree")
                && refused.lines().count() == 1, refused);
        assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "a refused checkpoint left the writer running");

        run(CRYO + " checkpoint " + pid + " --external '" + link + "' -o " + img, 0);
        for (int i = 0; i < 200 && ProcessHandle.of(pid).isPresent() && Files.exists(Path.of("/proc/" + pid)); i++) Thread.sleep(50);
        long before = lines(out1);
        for (int i = 0; i < 50; i++) {               // cat drains what was left in the outside pipe
            Thread.sleep(100);
            long now = lines(out1);
            if (now == before) break;
            before = now;
        }

        String unmapped = run(CRYO + " restart -d " + img, 1);
        assertTrue(unmapped.contains("--inherit-fd FD:" + link), unmapped);

        String restored = run("exec 3>&- 4>&-; exec " + CRYO + " restart -d --inherit-fd '5:" + link + "' " + img + " 5>" + out2, 0);
        assertEquals(Long.toString(pid), restored);
        for (int i = 0; i < 100 && lines(out2) < 3; i++) Thread.sleep(50);
        List<String> next = Files.readAllLines(out2);
        assertTrue(next.size() >= 3, "the restored writer wrote nothing to the inherited fd");
        assertEquals(before + 1, Long.parseLong(next.getFirst()), "the count goes on where it stopped");
    }
}
