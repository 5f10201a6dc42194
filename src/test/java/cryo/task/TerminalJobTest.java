package cryo.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A terminal's foreground job, on a real pty (python3's pty module runs an interactive bash on it): a program
 * that reads the terminal is checkpointed from outside, then restarted by `cryo restart` typed into the same
 * shell. It must read the next line typed, not be stopped by SIGTTIN in a background group: cryo hands the
 * terminal to its group. Where cryo cannot (in the background, or -d), it refuses with one line.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class TerminalJobTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    /**
     * Runs bash -i on a new pty; relays stdin to it ("<EOF>" as ^D, "<SUSP>" as ^Z, "<INTR>" as ^C) and its
     * output, without \r, to stdout.
     */
    static final String DRIVER = """
            import os, pty, select, sys
            pid, fd = pty.fork()
            if pid == 0:
                os.environ["PS1"] = "$ "
                os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
            os.write(1, b"SHELL %d\\n" % pid)
            inp = sys.stdin.fileno()
            while True:
                r, _, _ = select.select([fd, inp], [], [])
                if fd in r:
                    try:
                        data = os.read(fd, 4096)
                    except OSError:
                        break
                    if not data:
                        break
                    os.write(1, data.replace(b"\\r", b""))
                if inp in r:
                    data = os.read(inp, 4096)
                    if not data:
                        break
                    data = data.replace(b"<EOF>\\n", b"\\x04").replace(b"<SUSP>\\n", b"\\x1a")
                    os.write(fd, data.replace(b"<INTR>\\n", b"\\x03"))
            os.close(fd)
            os.waitpid(pid, 0)
            """;

    /** Reads lines from its terminal: READY pid, then GOT <line> for each, EOF at the end. */
    private static final String READER = """
            import os
            os.write(1, b"READY %d\\n" % os.getpid())
            while True:
                l = os.read(0, 100)
                if not l:
                    break
                os.write(1, b"GOT " + l)
            os.write(1, b"EOF\\n")
            """;

    private Proc shell;
    private long reader;
    private Path image;

    @BeforeEach
    void start() throws IOException {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("bash");
        Path py = Fixtures.python();
        Files.writeString(tmp.resolve("driver.py"), DRIVER);
        Files.writeString(tmp.resolve("reader.py"), READER);
        ProcessBuilder pb = new ProcessBuilder(py.toString(), tmp.resolve("driver.py").toString());
        Cryo.environment(pb, Map.of());
        shell = cleanup.start("pty", pb);
        long bash = after(shell.await("SHELL", l -> l.startsWith("SHELL ")), "SHELL ");
        cleanup.foreign(bash, Instant.now(), "bash on the pty");
        Instant t0 = Instant.now();
        shell.send(py + " " + tmp.resolve("reader.py"));
        // (bash's line editor may put escape sequences before a line)
        reader = after(shell.await("READY", l -> l.contains("READY ")), "READY ");
        cleanup.foreign(reader, t0, "the terminal reader");
        var st = Procfs.stat(reader).orElseThrow();
        assertEquals(reader, st.pgrp(), "bash runs the job in a group of its own");
        assertEquals(reader, tpgid(reader), "the job is its terminal's foreground");
        shell.send("one");
        shell.await("GOT one", l -> l.endsWith("GOT one"));
        image = tmp.resolve("job.img");
        Cryo.checkpoint(cleanup, reader, image);
        Procfs.awaitGone(reader, Timeouts.EXIT);
    }

    static long after(String line, String key) {
        return Long.parseLong(line.substring(line.indexOf(key) + key.length()).trim());
    }

    /** Field 8 of /proc/PID/stat: the foreground group of the task's terminal. */
    static long tpgid(long pid) {
        try {
            String s = Procfs.read(Path.of("/proc/" + pid + "/stat"));
            return Long.parseLong(s.substring(s.lastIndexOf(')') + 2).split(" ")[5]);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private String status(String command) {
        shell.send(command + "; echo S\"\"TATUS $?");   // the echo of the typed line has no "STATUS "
        return Long.toString(after(shell.await("STATUS", s -> s.contains("STATUS ")), "STATUS "));
    }

    @Test
    void theRestoredForegroundJobReadsTheTerminal() {
        shell.send(Cryo.bin() + " restart " + image);
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (!(Procfs.alive(reader) && Procfs.tracerPid(reader) == 0)) {
            if (System.nanoTime() > deadline) throw new AssertionError("the reader was not restored:\n" + shell.tails());
            Procfs.sleep(Duration.ofMillis(10));
        }
        assertEquals(reader, tpgid(reader), "the restored job is its terminal's foreground again");
        shell.send("two");
        String got = shell.await("GOT two", l -> l.endsWith("GOT two") || l.contains("cryo:"));
        assertTrue(got.endsWith("GOT two"), () -> "state " + Procfs.state(reader) + "\n" + shell.tails());
        assertNotEquals('T', Procfs.state(reader), "not stopped by SIGTTIN");
        shell.send("<EOF>");
        shell.await("EOF", l -> l.endsWith("EOF"));
        Procfs.awaitGone(reader, Timeouts.EXIT);
        assertEquals("0", status("true"), "bash has its terminal back and reads commands");
        shell.send("exit");
        assertEquals(0, shell.awaitExit(Timeouts.EXIT));
    }

    @Test
    void inTheBackgroundOrDetachedCryoRefuses() {
        for (String cmd : List.of(Cryo.bin() + " restart " + image + " & wait $!", Cryo.bin() + " restart -d " + image)) {
            shell.send(cmd + "; echo S\"\"TATUS $?");
            String line = shell.await("cryo:", l -> l.contains("cryo: ") || l.contains("STATUS "));
            assertTrue(line.contains("cryo: task " + reader + " was its terminal's foreground job"), line + "\n" + shell.tails());
            assertEquals(1, after(shell.await("STATUS", l -> l.contains("STATUS ")), "STATUS "));
            assertFalse(Procfs.exists(reader), "nothing was restored");
        }
        shell.send("exit");
        assertEquals(0, shell.awaitExit(Timeouts.EXIT));
    }
}
