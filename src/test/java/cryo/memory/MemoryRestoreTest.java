package cryo.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Fixtures.Build;
import cryo.testing.Lines;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The C fixture (src/test/c/fixture.c) fills mappings of every kind, registers, signal and process state;
 * after a checkpoint and restart it checks all of it itself and answers OK, with the same pid.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class MemoryRestoreTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    @ParameterizedTest
    @EnumSource(Build.class)
    void blockedInReadComesBackWithEverything(Build build) throws IOException {
        Path exe = Fixtures.fixture(tmp, build);
        Proc orig = Fixtures.startFixture(cleanup, exe, "read", tmp.resolve("work"));
        long pid = orig.pid();
        orig.checkOk();
        // a blocked signal pending at checkpoint time must still be pending after restart
        assertTrue(Os.kill(pid, Os.SIGUSR2));
        Map<String, String> before = orig.status();
        assertEquals("12", before.get("pending"), "SIGUSR2 should be pending in the original: " + before);

        Path image = tmp.resolve("read.img");
        Cryo.checkpoint(cleanup, pid, image);
        assertEquals("rw-------", Cryo.perms(image), "images hold process memory: mode 0600");
        orig.awaitExit(Timeouts.EXIT);
        Procfs.awaitGone(pid, Timeouts.EXIT);

        Proc rest = Cryo.startRestart(cleanup, image, pid);
        List<String> warns = rest.checkOk();
        warns.forEach(w -> System.out.println("soft finding after restart: " + w));
        Map<String, String> after = rest.status();
        assertEquals(Long.toString(pid), after.get("pid"), "same pid after restart");
        assertEquals("12", after.get("pending"), "the pending SIGUSR2 survives: " + after);
        assertEquals(Long.parseLong(before.get("checks")) + 1, Long.parseLong(after.get("checks")),
                "the check counter in memory continues");
        assertEquals(rest.pid(), Procfs.ppid(pid), "cryo restart stays in the foreground as the restored process's parent");
        rest.sharedWriteOk();
        rest.checkOk();
        rest.checkOk();
        rest.send("quit");
        rest.await("BYE", "BYE"::equals);
        assertEquals(0, rest.awaitExit(Timeouts.EXIT), "cryo restart exits with the restored process's status");
    }

    @Test
    void sleepingCounterContinuesWithoutGapOrRepeat() {
        Path exe = Fixtures.fixture(tmp, Build.PIE);
        Proc orig = Fixtures.startFixture(cleanup, exe, "sleep", tmp.resolve("work"));
        long pid = orig.pid();
        for (int i = 0; i < 3; i++) orig.nextTick();
        assertTrue(Os.kill(pid, Os.SIGUSR1));
        long usr1Before = Long.parseLong(orig.status().get("usr1"));

        Path image = tmp.resolve("sleep.img");
        Cryo.checkpoint(cleanup, pid, image);
        orig.awaitExit(Timeouts.EXIT);
        long last = orig.lastTickAfterEof();
        assertTrue(last >= 3, "ticks seen before the checkpoint: " + last);
        Procfs.awaitGone(pid, Timeouts.EXIT);

        Proc rest = Cryo.startRestart(cleanup, image, pid);
        assertEquals(last + 1, rest.nextTick(), "the first tick after restart follows the last one before it");
        for (long want = last + 2; want < last + 8; want++) assertEquals(want, rest.nextTick());
        rest.checkOk();
        assertTrue(Os.kill(pid, Os.SIGUSR1));
        Map<String, String> st = rest.status();
        assertEquals(Long.toString(pid), st.get("pid"));
        assertTrue(Long.parseLong(st.get("usr1")) > usr1Before, "the SIGUSR1 handler still counts: " + st);
        assertEquals(rest.pid(), Procfs.ppid(pid));

        assertTrue(Os.kill(pid, Os.SIGKILL));
        assertEquals(128 + Os.SIGKILL, rest.awaitExit(Timeouts.EXIT),
                "cryo restart exits with 128+signal when the restored process is killed");
    }

    @Test
    void leaveRunningLeavesOriginalUnharmedAndImageRestartsAfterItIsGone() {
        Path exe = Fixtures.fixture(tmp, Build.PIE);
        Proc orig = Fixtures.startFixture(cleanup, exe, "read", tmp.resolve("work"));
        long pid = orig.pid();
        orig.checkOk();

        Path image = tmp.resolve("lr.img");
        Cryo.checkpoint(cleanup, pid, image, "--leave-running");
        assertEquals("rw-------", Cryo.perms(image));
        Procfs.assertRunningUntraced(pid, "the original after --leave-running");
        orig.checkOk();
        orig.checkOk();
        assertEquals(Long.toString(pid), orig.status().get("pid"));
        Procfs.assertRunningUntraced(pid, "the original after --leave-running");

        orig.process().destroyForcibly();
        orig.awaitExit(Timeouts.EXIT);
        Procfs.awaitGone(pid, Timeouts.EXIT);

        Proc rest = Cryo.startRestart(cleanup, image, pid);
        rest.checkOk();
        assertEquals(Long.toString(pid), rest.status().get("pid"));
        assertTrue(Os.kill(pid, Os.SIGKILL));
        assertEquals(128 + Os.SIGKILL, rest.awaitExit(Timeouts.EXIT));
        Procfs.awaitGone(pid, Timeouts.EXIT);

        // the same image restarts again
        Proc again = Cryo.startRestart(cleanup, image, pid);
        again.checkOk();
        again.send("exit 7");
        assertEquals(7, again.awaitExit(Timeouts.EXIT), "cryo restart exits with the restored process's exit status");
    }

    @Test
    void detachedRestartPrintsThePidAndLeavesTheProcessRunning() throws Exception {
        Path exe = Fixtures.fixture(tmp, Build.NO_PIE);
        Proc orig = Fixtures.startFixture(cleanup, exe, "read", tmp.resolve("work"));
        long pid = orig.pid();
        orig.checkOk();
        Path image = tmp.resolve("d.img");
        Cryo.checkpoint(cleanup, pid, image);
        orig.awaitExit(Timeouts.EXIT);
        Procfs.awaitGone(pid, Timeouts.EXIT);

        // The restored process inherits cryo's stdin/stdout and outlives cryo: use a FIFO and a file, not
        // JDK pipes (the JDK closes a child's pipes once the child has exited).
        Path fifo = tmp.resolve("stdin.fifo");
        Os.mkfifo(fifo);
        Path outFile = tmp.resolve("stdout.txt");
        Path errFile = tmp.resolve("stderr.txt");
        try (RandomAccessFile writer = new RandomAccessFile(fifo.toFile(), "rw")) { // O_RDWR: never blocks
            ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), "restart", "-d", image.toString()))
                    .directory(Cryo.root().toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(fifo.toFile()))
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(outFile.toFile()))
                    .redirectError(ProcessBuilder.Redirect.appendTo(errFile.toFile()));
            Cryo.environment(pb, Map.of());
            cleanup.foreign(pid, Instant.now(), "restored process");
            Proc cryo = cleanup.start("restart -d", pb);
            int exit = cryo.awaitExit(Timeouts.CRYO);
            assertEquals(0, exit, () -> "cryo restart -d failed; stderr:\n" + read(errFile));

            try (InputStream tail = new TailStream(outFile)) {
                Lines out = new Lines("restored", tail);
                out.await("the pid printed by restart -d", Long.toString(pid)::equals, Timeouts.LINE);
                assertTrue(Procfs.alive(pid), "the restored process runs after cryo exits");
                assertNotEquals(cryo.pid(), Procfs.ppid(pid));
                writer.write("check\n".getBytes(StandardCharsets.ISO_8859_1));
                String answer = out.await("OK", l -> l.equals("OK") || l.startsWith("FAIL"), Timeouts.LINE);
                assertEquals("OK", answer, () -> "the restored process reported:\n" + out.tail());
                writer.write("status\n".getBytes(StandardCharsets.ISO_8859_1));
                String st = out.await("STATUS", l -> l.startsWith("STATUS "), Timeouts.LINE);
                assertTrue(st.contains("pid=" + pid + " "), st);
            }
            assertTrue(Os.kill(pid, Os.SIGKILL));
        }
        // its parent is now init (or a subreaper), which reaps it in its own time
        Procfs.awaitGone(pid, Timeouts.EXIT);
    }

    private static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return "(unreadable: " + e + ")";
        }
    }

    /** Follows a growing file, like tail -f, until closed. */
    static final class TailStream extends InputStream {
        private final FileInputStream in;
        private volatile boolean closed;

        TailStream(Path p) throws IOException {
            this.in = new FileInputStream(p.toFile());
        }

        @Override
        public int read() throws IOException {
            byte[] b = new byte[1];
            int n = read(b, 0, 1);
            return n < 0 ? -1 : b[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            while (!closed) {
                int n = in.read(b, off, len);
                if (n > 0) return n;
                Procfs.sleep(Duration.ofMillis(20));
            }
            return -1;
        }

        @Override
        public void close() throws IOException {
            closed = true;
            in.close();
        }
    }
}
