package cryo.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Fixtures.Build;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** {@code cryo checkpoint PID -o - | cryo restart -}: the image as a stream, never seeked. */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class StreamingTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    /**
     * Two cryo processes joined by the test: checkpoint's stdout is forwarded to restart's stdin as it comes
     * (buffered only until the original has been reaped, so its pid is free); restart's stdin is closed
     * after the image.
     */
    @Test
    void checkpointToStdoutRestartFromStdin() throws Exception {
        Streamed s = streamThroughTheTest(false);
        assertEquals(s.lastTick() + 1, s.restart().nextTick(), "the restored counter continues");
        s.restart().nextTick();
        assertEquals(s.restart().pid(), Procfs.ppid(s.pid()), "the restored process is a child of cryo restart");
        assertTrue(Os.kill(s.pid(), Os.SIGKILL));
        assertEquals(128 + Os.SIGKILL, s.restart().awaitExit(Timeouts.EXIT));
    }

    /**
     * As above, but restart's stdin stays open after the image: cryo reads the stream up to its TAIL record
     * and no further (it does not wait for EOF, nor swallow what follows), so the restored program, which
     * inherits that stdin, gets the "check" line sent next.
     */
    @Test
    void whatFollowsTheImageOnStdinIsForTheRestoredProgram() throws Exception {
        Streamed s = streamThroughTheTest(true);
        assertEquals(s.lastTick() + 1, s.restart().nextTick(), "the restored counter continues");
        s.restart().checkOk();
        assertEquals(Long.toString(s.pid()), s.restart().status().get("pid"));
        assertTrue(Os.kill(s.pid(), Os.SIGKILL));
        assertEquals(128 + Os.SIGKILL, s.restart().awaitExit(Timeouts.EXIT));
    }

    private record Streamed(Proc restart, long pid, long lastTick) {}

    private Streamed streamThroughTheTest(boolean keepStdinOpen) throws Exception {
        Path exe = Fixtures.fixture(tmp, Build.PIE);
        Proc orig = Fixtures.startFixture(cleanup, exe, "sleep", tmp.resolve("work"));
        long pid = orig.pid();
        for (int i = 0; i < 3; i++) orig.nextTick();

        ProcessBuilder cpb = new ProcessBuilder(Cryo.command(List.of(), "checkpoint", Long.toString(pid), "-o", "-"))
                .directory(Cryo.root().toFile());
        Cryo.environment(cpb, Map.of());
        Proc checkpoint = cleanup.startRawStdout("checkpoint", cpb);
        LinkedBlockingQueue<byte[]> chunks = new LinkedBlockingQueue<>();
        AtomicLong streamed = new AtomicLong();
        CompletableFuture<Void> reader = CompletableFuture.runAsync(() -> {
            try (InputStream in = checkpoint.rawStdout()) {
                byte[] buf = new byte[1 << 16];
                int n;
                while ((n = in.read(buf)) > 0) {
                    byte[] c = new byte[n];
                    System.arraycopy(buf, 0, c, 0, n);
                    chunks.add(c);
                    streamed.addAndGet(n);
                }
            } catch (IOException ignored) {
                // ends with the process
            } finally {
                chunks.add(new byte[0]); // end marker
            }
        });

        // the original dies when checkpoint has frozen and saved it; wait until the JVM has reaped it
        awaitDeathUnless(orig, checkpoint);
        long last = orig.lastTickAfterEof();
        Procfs.awaitGone(pid, Timeouts.EXIT);

        ProcessBuilder rpb = new ProcessBuilder(Cryo.command(List.of(), "restart", "-")).directory(Cryo.root().toFile());
        Cryo.environment(rpb, Map.of());
        cleanup.foreign(pid, Instant.now(), "restored process");
        Proc restart = cleanup.start("restart", rpb);
        OutputStream toRestart = restart.rawStdin();
        CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
            try {
                while (true) {
                    byte[] c = chunks.poll(Timeouts.CRYO.toMillis(), TimeUnit.MILLISECONDS);
                    if (c == null || c.length == 0) break;
                    toRestart.write(c);
                }
                toRestart.flush();
                if (!keepStdinOpen) toRestart.close();
            } catch (IOException e) {
                // restart is gone: what it printed says why (checked next)
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });

        assertEquals(0, checkpoint.awaitExit(Timeouts.CRYO), () -> "checkpoint -o - failed:\n" + checkpoint.tails());
        reader.get(Timeouts.CRYO.toSeconds(), TimeUnit.SECONDS);
        writer.get(Timeouts.CRYO.toSeconds(), TimeUnit.SECONDS);
        assertTrue(streamed.get() > 0, "checkpoint wrote nothing to stdout");

        return new Streamed(restart, pid, last);
    }

    /** Waits for the target to die; fails early if the cryo side gives up first. */
    private static void awaitDeathUnless(Proc target, Proc cryo) {
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (target.isAlive()) {
            if (!cryo.isAlive() && target.isAlive()) {
                Procfs.sleep(Duration.ofMillis(200));
                if (target.isAlive())
                    throw new AssertionError(cryo.name() + " exited " + cryo.process().exitValue()
                            + " and the target still runs:\n" + cryo.tails());
            }
            if (System.nanoTime() > deadline)
                throw new AssertionError("the target still runs after " + Timeouts.CRYO.toSeconds() + " s:\n" + cryo.tails());
            Procfs.sleep(Duration.ofMillis(10));
        }
        target.awaitExit(Timeouts.EXIT);
    }

    /**
     * The literal shell pipeline. The target is a child of the test JVM, which reaps it as soon as
     * checkpoint has killed it; restart can only create the pid once that has happened.
     */
    @Test
    void shellPipeline() {
        Path exe = Fixtures.fixture(tmp, Build.PIE);
        Proc orig = Fixtures.startFixture(cleanup, exe, "sleep", tmp.resolve("work"));
        long pid = orig.pid();
        for (int i = 0; i < 3; i++) orig.nextTick();

        ProcessBuilder pb = new ProcessBuilder("sh", "-c", "\"$0\" checkpoint \"$1\" -o - | \"$0\" restart -",
                Cryo.bin().toString(), Long.toString(pid)).directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of());
        cleanup.foreign(pid, Instant.now(), "restored process");
        Proc sh = cleanup.start("pipeline", pb);

        awaitDeathUnless(orig, sh);
        long last = orig.lastTickAfterEof();
        // the restored program's stdout is restart's, which is the pipeline's
        assertEquals(last + 1, sh.nextTick(), "the restored counter continues");
        for (long want = last + 2; want < last + 6; want++) assertEquals(want, sh.nextTick());
        assertEquals(sh.pid(), Procfs.stat(Procfs.ppid(pid)).map(Procfs.Stat::ppid).orElse(-1L),
                "the restored process is a child of the `cryo restart` in the pipeline");
        assertTrue(Os.kill(pid, Os.SIGKILL));
        assertEquals(128 + Os.SIGKILL, sh.awaitExit(Timeouts.EXIT), () -> "the pipeline's status:\n" + sh.tails());
    }
}
