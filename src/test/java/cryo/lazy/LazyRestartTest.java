package cryo.lazy;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * `cryo restart --lazy` of src/test/c/lazy.c, which checks its memory itself (every page, in a random order)
 * while the pages come in: in the foreground, with -d (its server process exits after the last page), from a
 * stream, and with the server killed in the lazy phase (the tree dies with it: nothing hangs, nothing is left).
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class LazyRestartTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    private static final String MIB = "96";

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    /** The fixture, checkpointed (and gone): its image. */
    private Path checkpointed(Proc orig, String name) {
        Path image = tmp.resolve(name + ".img");
        Cryo.checkpoint(cleanup, orig.pid(), image);
        orig.awaitExit(Timeouts.EXIT);
        Procfs.awaitGone(orig.pid(), Timeouts.EXIT);
        return image;
    }

    private Proc fixture() {
        Path exe = Fixtures.compile(tmp, "lazy", Build.PIE);
        Proc p = cleanup.start("lazy fixture", new ProcessBuilder(exe.toString(), MIB));
        assertEquals(p.pid(), p.awaitReady());
        return p;
    }

    @Test
    void foregroundProcessChecksItsMemoryForksAndWritesDuringTheFill() {
        Proc orig = fixture();
        long pid = orig.pid();
        Path image = checkpointed(orig, "fg");
        Proc rest = Cryo.startRestart(cleanup, image, pid, "--lazy");
        // queued at once: the process runs them as soon as it runs, while its pages come in
        rest.send("write");
        rest.send("dontneed");
        rest.send("fork");
        rest.send("check");
        assertEquals("WRITE OK", rest.await("write", l -> l.startsWith("WRITE")), "a page written before cryo filled it keeps the write");
        assertEquals("DONTNEED OK", rest.await("dontneed", l -> l.startsWith("DONTNEED")));
        assertEquals("CHILD OK", rest.await("child", l -> l.startsWith("CHILD")), "a child forked in the lazy phase has its memory");
        assertEquals("OK 24576", rest.await("check", l -> l.startsWith("OK") || l.startsWith("FAIL")));
        awaitUntraced(pid);
        // after the fill: the write is still there, the dropped range still zero, everything else in
        rest.send("check");
        assertEquals("OK 24576", rest.await("check", l -> l.startsWith("OK") || l.startsWith("FAIL")));
        assertEquals(rest.pid(), Procfs.ppid(pid), "cryo stays the parent");
        rest.send("quit");
        assertEquals(0, rest.awaitExit(Timeouts.EXIT), rest.tails());
    }

    /** The lazy phase ends with the fill: cryo lets the tree go. */
    private static void awaitUntraced(long pid) {
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (Procfs.tracerPid(pid) != 0) {
            if (System.nanoTime() > deadline) throw new AssertionError("pid " + pid + " is still traced after " + Timeouts.CRYO.toSeconds() + " s");
            Procfs.sleep(Duration.ofMillis(20));
        }
    }

    /** The -d servers started by cryo process `cryo`: command lines `... __lazy-server FD CRYO [hold]`. */
    static List<Long> servers(long cryo) {
        List<Long> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(Path.of("/proc"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (!p.getFileName().toString().matches("[0-9]+")) continue;
                try {
                    List<String> argv = List.of(new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8).split("\0"));
                    int i = argv.indexOf("__lazy-server");
                    if (i >= 0 && argv.size() > i + 2 && argv.get(i + 2).equals(Long.toString(cryo))) out.add(Long.parseLong(p.getFileName().toString()));
                } catch (IOException e) {
                    // gone
                }
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return out;
    }

    private long cryoPid;

    /**
     * `cryo restart -d --lazy IMAGE` with stdin from a FIFO (writer) and stdout into a file; returns its output
     * lines. cryoPid is the restart's pid.
     */
    private Lines detached(Path image, long pid, RandomAccessFile[] writer, Map<String, String> env) throws IOException {
        Path fifo = tmp.resolve("stdin.fifo");
        Os.mkfifo(fifo);
        writer[0] = new RandomAccessFile(fifo.toFile(), "rw");
        Path outFile = tmp.resolve("stdout.txt");
        Path errFile = tmp.resolve("stderr.txt");
        ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), "restart", "-d", "--lazy", image.toString()))
                .directory(Cryo.root().toFile())
                .redirectInput(ProcessBuilder.Redirect.from(fifo.toFile()))
                .redirectOutput(ProcessBuilder.Redirect.appendTo(outFile.toFile()))
                .redirectError(ProcessBuilder.Redirect.appendTo(errFile.toFile()));
        Cryo.environment(pb, env);
        Instant t0 = Instant.now();
        cleanup.foreign(pid, t0, "restored process");
        Proc cryo = cleanup.start("restart -d --lazy", pb);
        int exit = cryo.awaitExit(Timeouts.CRYO);
        assertEquals(0, exit, () -> "cryo restart -d --lazy failed; stderr:\n" + readQuietly(errFile));
        cryoPid = cryo.pid();
        for (long s : servers(cryoPid)) cleanup.foreign(s, t0, "lazy page server");
        InputStream tail = new TailStream(outFile);
        Lines out = new Lines("restored", tail);
        out.await("the pid printed by restart -d", Long.toString(pid)::equals, Timeouts.LINE);
        return out;
    }

    private static void send(RandomAccessFile w, String line) throws IOException {
        w.write((line + "\n").getBytes(StandardCharsets.ISO_8859_1));
    }

    @Test
    void detachedServerExitsAfterTheFill() throws Exception {
        Proc orig = fixture();
        long pid = orig.pid();
        Path image = checkpointed(orig, "d");
        RandomAccessFile[] w = new RandomAccessFile[1];
        Lines out = detached(image, pid, w, Map.of());
        try (RandomAccessFile writer = w[0]) {
            send(writer, "write");
            send(writer, "fork");
            send(writer, "check");
            assertEquals("WRITE OK", out.await("write", l -> l.startsWith("WRITE"), Timeouts.LINE));
            assertEquals("CHILD OK", out.await("child", l -> l.startsWith("CHILD"), Timeouts.LINE));
            assertEquals("OK 24576", out.await("check", l -> l.startsWith("OK") || l.startsWith("FAIL"), Timeouts.LINE));
            long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
            while (!servers(cryoPid).isEmpty()) {
                if (System.nanoTime() > deadline) throw new AssertionError("the lazy page server still runs after " + Timeouts.CRYO.toSeconds() + " s");
                Procfs.sleep(Duration.ofMillis(20));
            }
            assertEquals(0, Procfs.tracerPid(pid), "the server let the tree go");
            send(writer, "check");
            assertEquals("OK 24576", out.await("check", l -> l.startsWith("OK") || l.startsWith("FAIL"), Timeouts.LINE));
            assertTrue(Os.kill(pid, Os.SIGKILL));
        }
        Procfs.awaitGone(pid, Timeouts.EXIT);
    }

    @Test
    void killedDetachedServerTakesTheTreeWithIt() throws Exception {
        Proc orig = fixture();
        long pid = orig.pid();
        Path image = checkpointed(orig, "kill");
        RandomAccessFile[] w = new RandomAccessFile[1];
        Lines out = detached(image, pid, w, Map.of("CRYO_LAZY_HOLD", "1"));   // no fill: the lazy phase lasts
        try (RandomAccessFile writer = w[0]) {
            send(writer, "write");
            assertEquals("WRITE OK", out.await("write", l -> l.startsWith("WRITE"), Timeouts.LINE), "faults are served");
            List<Long> servers = servers(cryoPid);
            assertEquals(1, servers.size(), "one lazy page server: " + servers);
            String tracer = Procfs.statusField(Procfs.tracerPid(pid), "Tgid").orElse("none");
            assertEquals(Long.toString(servers.getFirst()), tracer, "the server traces the tree");
            assertTrue(Os.kill(servers.getFirst(), Os.SIGKILL));
            Procfs.awaitGone(pid, Timeouts.EXIT);
            Procfs.awaitGone(servers.getFirst(), Timeouts.EXIT);
        }
    }

    @Test
    void killedForegroundCryoTakesTheTreeWithIt() {
        Proc orig = fixture();
        long pid = orig.pid();
        Path image = checkpointed(orig, "killfg");
        List<String> cmd = Cryo.command(List.of(), "restart", "--lazy", image.toString());
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of("CRYO_LAZY_HOLD", "1"));
        cleanup.foreign(pid, Instant.now(), "restored process");
        Proc rest = cleanup.start("restart --lazy", pb);
        rest.send("write");
        assertEquals("WRITE OK", rest.await("write", l -> l.startsWith("WRITE")));
        rest.send("fork");      // the child, traced from birth, dies too
        assertEquals("CHILD OK", rest.await("child", l -> l.startsWith("CHILD")));
        rest.process().destroyForcibly();
        rest.awaitExit(Timeouts.EXIT);
        Procfs.awaitGone(pid, Timeouts.EXIT);
    }

    @Test
    void streamedImageRestartsLazily() {
        streamed(false, "");
    }

    @Test
    void streamedImageRestartsLazilyDetached() {
        streamed(true, "");
    }

    /** Live migration: pre-copy rounds, then the final pages, restarted lazily from the stream. */
    @Test
    void preCopiedStreamRestartsLazily() {
        streamed(false, "--pre-copy ");
    }

    @Test
    void preCopiedStreamRestartsLazilyDetached() {
        streamed(true, "--pre-copy ");
    }

    private void streamed(boolean detach, String checkpointOptions) {
        Proc orig = fixture();
        long pid = orig.pid();
        // The restored process's stdin is the pipe the image came through: at its end the fixture checks its
        // memory (during the lazy phase) and exits with the outcome.
        String bin = Cryo.bin().toString();
        ProcessBuilder pb = new ProcessBuilder("sh", "-c", bin + " checkpoint " + checkpointOptions + "-o - " + pid + " | " + bin + " restart " + (detach ? "-d " : "") + "--lazy -")
                .directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of());
        cleanup.foreign(pid, Instant.now(), "restored process");
        Proc pipeline = cleanup.start("checkpoint | restart --lazy -", pb);
        orig.awaitExit(Timeouts.EXIT);
        // -d: the pipeline's output goes on after cryo (which printed the pid) has exited, from the tree
        assertEquals("OK 24576", pipeline.await("check at EOF", l -> l.startsWith("OK") || l.startsWith("FAIL")));
        assertEquals(0, pipeline.awaitExit(Timeouts.CRYO), pipeline.tails());
        Procfs.awaitGone(pid, Timeouts.EXIT);
    }

    private static String readQuietly(Path p) {
        try {
            return Files.readString(p, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return "(unreadable: " + e + ")";
        }
    }

    /** Follows a growing file, like tail -f. */
    static final class TailStream extends InputStream {
        private final java.io.FileInputStream in;

        TailStream(Path p) throws IOException {
            this.in = new java.io.FileInputStream(p.toFile());
        }

        @Override
        public int read() throws IOException {
            byte[] b = new byte[1];
            int n = read(b, 0, 1);
            return n < 0 ? -1 : b[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            while (true) {
                int n = in.read(b, off, len);
                if (n > 0) return n;
                Procfs.sleep(Duration.ofMillis(20));
            }
        }
    }
}
