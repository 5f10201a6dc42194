package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A program whose executable was deleted after it started (src/test/c/ghost_exe.c checks itself): its binary
 * is saved as a ghost file, its text is mapped from the recreated ghost and it is the exe of the restored
 * process, whose /proc/PID/exe still reads "PATH (deleted)"; no name of it is left on disk.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class GhostExeTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    @Test
    void anExecutableDeletedSinceItStartedRunsOnAfterRestart() throws IOException {
        Path built = Fixtures.compile(Files.createDirectories(tmp.resolve("build")), "ghost_exe", Fixtures.Build.PIE);
        Path dir = Files.createDirectories(tmp.resolve("bin"));
        Path prog = Files.copy(built, dir.resolve("prog"));
        Proc p = cleanup.start("ghost_exe", new ProcessBuilder(prog.toString()));
        long pid = Long.parseLong(p.await("READY", s -> s.startsWith("READY ")).substring(6).trim());
        assertEquals(p.pid(), pid);
        Files.delete(prog);
        assertEquals(prog + " (deleted)", exe(pid), "the executable is deleted before the checkpoint");
        assertEquals("OK exe 1", check(p), "before the checkpoint");

        Path image = tmp.resolve("exe.img");
        Cryo.checkpoint(cleanup, pid, image);
        p.awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(List.of(pid), Duration.ofSeconds(30));
        List<Map<String, String>> ghosts = PipeFixtureTest.showRecords(cleanup, image, "GHOST");
        assertEquals(1, ghosts.size(), "the executable is one GHOST record, shared by its mappings and the MM: " + ghosts);
        assertEquals(Long.toString(Files.size(built)), ghosts.getFirst().get("size"));

        Proc rest = Cryo.startRestart(cleanup, image, pid);
        assertEquals("OK exe 2", check(rest), "after restart: same text, /proc/self/exe deleted and readable, the count goes on");
        assertEquals("OK exe 3", check(rest), "checked twice after restart");
        assertTrue(exe(pid).endsWith(" (deleted)"), "/proc/PID/exe of the restored process: " + exe(pid));
        assertEquals(prog + " (deleted)", exe(pid));
        assertEquals(List.of(), Cryo.list(dir), "the executable is not left recreated on disk");
        rest.send("quit");
        assertEquals("BYE", rest.await("BYE", l -> l.equals("BYE")));
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }

    private static String check(Proc p) {
        p.send("check");
        return p.await("OK or FAIL", s -> s.startsWith("OK ") || s.startsWith("FAIL "));
    }

    private static String exe(long pid) throws IOException {
        return Files.readSymbolicLink(Path.of("/proc/" + pid + "/exe")).toString();
    }
}
