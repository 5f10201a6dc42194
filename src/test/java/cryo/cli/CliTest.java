package cryo.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Cryo.Result;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The command line: help, check, show, and usage errors (one line, non-zero exit, no stack trace). */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class CliTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @Test
    void helpListsTheCommands() {
        Result r = Cryo.run(cleanup, "--help").assertOk();
        for (String c : List.of("checkpoint", "restart", "show", "check"))
            assertTrue(r.stdout().contains(c), () -> "--help mentions " + c + ":\n" + r.describe());
        assertEquals("", r.stderr(), "help goes to stdout");
    }

    @ParameterizedTest
    @ValueSource(strings = {"checkpoint", "restart", "show", "check"})
    void everySubcommandHasHelp(String sub) {
        Result r = Cryo.run(cleanup, sub, "--help").assertOk();
        assertFalse(r.stdout().isBlank(), () -> sub + " --help prints something:\n" + r.describe());
    }

    @Test
    void checkReportsWhatThisMachineHas() {
        Fixtures.assumeRoot();
        Result r = Cryo.run(cleanup, "check").assertOk();
        assertFalse(r.stdout().isBlank(), r::describe);
    }

    // (never a real pid here: a parser bug must not get to freeze or kill anything)
    @ParameterizedTest
    @ValueSource(strings = {"frobnicate", "checkpoint", "checkpoint abc -o /tmp/x", "checkpoint 999999999 -o",
            "checkpoint --no-such-option 999999999 -o /tmp/x", "checkpoint 999999999", "restart",
            "restart /nonexistent/cryo.img", "show", "show /nonexistent/cryo.img", "restart -d"})
    void usageErrorsAreOneLine(String args) {
        String[] a = args.isEmpty() ? new String[0] : args.split(" ");
        Cryo.run(cleanup, a).assertOneLineError();
    }


    @Test
    void bareCryoPrintsTheUsage() {
        Result r = Cryo.run(cleanup);
        assertTrue(r.exit() != 0, r::describe);
        assertTrue(r.stderr().startsWith("usage: cryo"), r::describe);
        assertTrue(r.stderr().contains("checkpoint PID"), r::describe);
    }

    @Test
    void versionIsOneLine() {
        Result r = Cryo.run(cleanup, "--version").assertOk();
        assertTrue(r.stdout().matches("cryo \\d+\\.\\d+\\.\\d+\\S*\n"), r::describe);
    }

    @Test
    void anUnwritableOutputIsAnErrorAndTheTargetRunsOn() {
        Fixtures.assumeRoot();
        Proc target = Fixtures.startSleep(cleanup);
        Cryo.run(cleanup, "checkpoint", Long.toString(target.pid()), "-o", "/nonexistent/dir/x.img").assertOneLineError();
        Procfs.assertRunningUntraced(target.pid(), "the target");
    }

    @Test
    void showPrintsTheImageRecordByRecord() throws IOException {
        Fixtures.assumeRoot();
        Proc target = Fixtures.startSleep(cleanup);
        Path image = tmp.resolve("s.img");
        Cryo.checkpoint(cleanup, target.pid(), image, "--leave-running");
        Result text = Cryo.run(cleanup, "show", image.toString()).assertOk();
        String t = text.stdout().toUpperCase(Locale.ROOT);
        assertTrue(t.contains("HEAD") && t.contains("TASK") && t.contains("VMA"),
                () -> "show names the records:\n" + text.describe());
        Result json = Cryo.run(cleanup, "show", image.toString(), "--json").assertOk();
        String j = json.stdout().trim();
        assertTrue(j.startsWith("{") || j.startsWith("["), () -> "show --json prints JSON:\n" + json.describe());
        assertTrue(j.endsWith("}") || j.endsWith("]"), () -> "show --json prints JSON:\n" + json.describe());
        // show reads the image only: the file is unchanged and the target untouched
        assertTrue(Files.size(image) > 0);
        Procfs.assertRunningUntraced(target.pid(), "the target");
    }
}
