package cryo.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Faults on the way of an image (issue 16): a full file system while pages are written, a file size limit, a
 * stream cut anywhere between `cryo checkpoint -o -` and `cryo restart -`, an input that brings nothing (a
 * pipe, a FIFO nobody opens), a reader of stdout that takes nothing. Each is one line and exit 1 within the
 * timeout given; the target runs on with its memory as it was (even in the default kill mode), and nothing
 * is left: no image, no temporary or staging file. (A read-only file system: OutputTargetTest.)
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class FaultsTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("python3");
    }

    /** A process with MiB of random bytes of its own; answers each line on stdin with their digest. */
    private Proc holder(int mib) {
        Proc p = cleanup.start("holder", new ProcessBuilder("python3", "-c", """
                import hashlib, os, sys
                b = bytearray(os.urandom(%d << 20))
                for line in iter(sys.stdin.readline, ''):
                    sys.stdout.write('digest ' + hashlib.sha256(b).hexdigest() + '\\n'); sys.stdout.flush()
                """.formatted(mib)));
        p.send("digest");
        return p;
    }

    private static String digest(Proc p) {
        return p.out().next("the digest", Timeouts.LINE);
    }

    /** The target runs, untraced, and its memory is what it was. */
    private static void unharmed(Proc target, String digest) {
        Procfs.assertRunningUntraced(target.pid(), "the target");
        target.send("digest");
        assertEquals(digest, digest(target), "the target's memory is as it was");
    }

    @Test
    void aFullFileSystemWhileWritingPages() throws IOException {
        Fixtures.assumeTool("mount");
        Proc target = holder(4);
        String digest = digest(target);
        Path full = Files.createDirectory(tmp.resolve("full"));
        run("mount", "-t", "tmpfs", "-o", "size=1m", "cryo-test-full", full.toString());
        try {
            // 768 KiB taken: the records before the pages fit, the 4 MiB of pages do not
            Files.write(full.resolve("filler"), new byte[768 << 10]);
            Path img = full.resolve("x.img");
            String line = Cryo.run(cleanup, "checkpoint", Long.toString(target.pid()), "-o", img.toString()).assertOneLineError();
            assertTrue(line.contains(img.toString()) && line.contains("No space left on device"), line);
            assertEquals(List.of("filler"), Cryo.list(full), "no image, no temporary file");
            unharmed(target, digest);
        } finally {
            run("umount", "-l", full.toString());
        }
    }

    @Test
    void aFileSizeLimit() {
        Fixtures.assumeTool("prlimit");
        Proc target = holder(1);
        String digest = digest(target);
        Path img = tmp.resolve("x.img");
        String line = Cryo.run(cleanup, Map.of(), List.of("prlimit", "--fsize=262144", "--"), null,
                "checkpoint", Long.toString(target.pid()), "-o", img.toString()).assertOneLineError();
        assertTrue(line.contains(img.toString()) && line.contains("File too large"), line);
        assertEquals(List.of(), Cryo.list(tmp));
        unharmed(target, digest);
    }

    /**
     * `cryo checkpoint PID -o - | head -c N | cryo restart -` in the default kill mode, N inside the magic,
     * inside HEAD, inside the pages, just before TAIL and one byte short: the checkpoint fails (its reader
     * went away before taking the whole image: the tree is not killed) and restart refuses the stream.
     */
    @Test
    void aStreamCutAnywhere() throws IOException {
        Proc target = holder(1);
        String digest = digest(target);
        Path whole = tmp.resolve("whole.img");
        Cryo.checkpoint(cleanup, target.pid(), whole, "--leave-running");
        long size = Files.size(whole);
        Files.delete(whole);
        // the last: restart --lazy -d, which starts its page server before it reads the image
        long[] cuts = {4, 20, size / 2, size - 24, size - 1, size / 3};
        for (long n : cuts) {
            Path ck = tmp.resolve("ck.err"), rs = tmp.resolve("rs.err");
            String restart = n == cuts[cuts.length - 1] ? "restart --lazy -d -" : "restart -";
            String script = "{ \"$0\" checkpoint $1 -o - 2>" + ck + "; echo $? >>" + ck + "; } | head -c $2 | { \"$0\" " + restart + " 2>" + rs
                    + "; echo $? >>" + rs + "; }";
            List<String> cmd = List.of("sh", "-c", script, Cryo.bin().toString(), Long.toString(target.pid()), Long.toString(n));
            ProcessBuilder pb = new ProcessBuilder(cmd).directory(Cryo.root().toFile());
            Cryo.environment(pb, Map.of());
            Cryo.collect(cleanup, cmd, pb);
            String checkpoint = oneLineAndStatus1(ck, "checkpoint cut at " + n + " of " + size);
            assertTrue(checkpoint.contains("cannot write the image to stdout"), checkpoint);
            String refused = oneLineAndStatus1(rs, restart + " cut at " + n + " of " + size);
            assertTrue(refused.contains(n < 8 ? "bad magic" : "truncated"), refused);
            assertTrue(n < 8 || refused.contains("(" + n + " bytes)"), refused);
            unharmed(target, digest);
        }
        assertEquals(List.of(), lazyServersOfThisTree(), "the page server of restart --lazy -d is gone");
        assertEquals(List.of(), Cryo.list(tmp), "no image nor temporary file");
    }

    /** Page server processes (`__lazy-server`) run from this working tree's classes. */
    private static List<String> lazyServersOfThisTree() throws IOException {
        List<String> found = new ArrayList<>();
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(d -> d.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    String cmdline = new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.ISO_8859_1).replace('\0', ' ');
                    if (cmdline.contains("__lazy-server") && cmdline.contains(Cryo.root().toString())) found.add(p.getFileName() + ": " + cmdline);
                } catch (IOException gone) {
                    // exited meanwhile
                }
            }
        }
        return found;
    }

    /** The file holds one "cryo: ..." line, then the status 1; returns the line. */
    private static String oneLineAndStatus1(Path f, String what) throws IOException {
        List<String> lines = Files.readAllLines(f, StandardCharsets.ISO_8859_1);
        Files.delete(f);
        assertEquals(2, lines.size(), what + ": " + lines);
        assertTrue(lines.get(0).startsWith("cryo: ") && !lines.get(0).contains("Exception"), what + ": " + lines);
        assertEquals("1", lines.get(1), what + ": " + lines);
        return lines.get(0);
    }

    /** checkpoint -o - into a pipe nobody reads (the test holds its read end): bounded, the tree released. */
    @Test
    void aReaderOfStdoutThatTakesNothing() {
        Proc target = holder(2);
        String digest = digest(target);
        List<String> cmd = Cryo.command(List.of(), "checkpoint", Long.toString(target.pid()), "-o", "-", "--output-timeout", "2");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(Cryo.root().toFile()).redirectError(tmp.resolve("err").toFile());
        Cryo.environment(pb, Map.of());
        Proc checkpoint = cleanup.startRawStdout("checkpoint", pb);   // its stdout is never read
        assertEquals(1, checkpoint.awaitExit(Timeouts.CRYO));
        String err = read(tmp.resolve("err"));
        assertTrue(err.startsWith("cryo: ") && err.strip().lines().count() == 1 && err.contains("took nothing for 2 s (--output-timeout)"), err);
        unharmed(target, digest);
    }

    /** restart - from a pipe whose writer never writes nor closes. */
    @Test
    void anInputThatBringsNothing() {
        List<String> cmd = Cryo.command(List.of(), "restart", "-", "--input-timeout", "2");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of());
        Proc restart = cleanup.start("restart", pb);   // stdin: a pipe the test holds open and never writes
        assertEquals(1, restart.awaitExit(Timeouts.CRYO));
        restart.err().awaitEof(Timeouts.EXIT);
        assertEquals(List.of("cryo: image on stdin: no byte came for 2 s (--input-timeout)"), restart.err().all());
    }

    /** restart FIFO that no writer opens; then `cryo show FIFO` with a writer reads the image through it. */
    @Test
    void aFifoNoWriterOpens() throws IOException {
        Path fifo = tmp.resolve("fifo");
        run("mkfifo", fifo.toString());
        Cryo.Result r = Cryo.run(cleanup, "restart", fifo.toString(), "--input-timeout", "2");
        assertEquals("cryo: image on FIFO " + fifo + ": no byte came for 2 s (--input-timeout)", r.assertOneLineError());
        assertEquals(List.of("fifo"), Cryo.list(tmp));

        Proc target = Fixtures.startSleep(cleanup);
        Path img = tmp.resolve("s.img");
        Cryo.checkpoint(cleanup, target.pid(), img, "--leave-running");
        Proc writer = cleanup.start("writer", new ProcessBuilder("sh", "-c", "exec cat \"$0\" > \"$1\"", img.toString(), fifo.toString()));
        Cryo.Result shown = Cryo.run(cleanup, "show", fifo.toString()).assertOk();
        assertTrue(shown.stdout().startsWith("HEAD"), shown.describe());
        assertEquals(0, writer.awaitExit(Timeouts.EXIT));
    }

    /**
     * restart - --stage DIR: the staging file is 0600 and has no name while the image comes in; an input that
     * ends before any byte leaves DIR empty.
     */
    @Test
    void theStagingFileIsPrivateAndUnnamed() throws IOException {
        Path stage = Files.createDirectory(tmp.resolve("stage"));
        List<String> cmd = Cryo.command(List.of(), "restart", "-", "--stage", stage.toString());
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of());
        Proc restart = cleanup.start("restart", pb);
        Path staged = null;
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (staged == null) {
            assertTrue(System.nanoTime() < deadline, "cryo restart opened no staging file in " + stage);
            for (Path fd : fds(restart.pid())) {
                String target = link(fd);
                if (target.startsWith(stage + "/.cryo-stage-")) staged = fd;
            }
            Procfs.sleep(java.time.Duration.ofMillis(20));
        }
        assertTrue(link(staged).endsWith(" (deleted)"), "the staging file has no name: " + link(staged));
        assertEquals("rw-------", Cryo.perms(staged));
        assertEquals(List.of(), Cryo.list(stage));
        restart.closeStdin();
        assertEquals(1, restart.awaitExit(Timeouts.CRYO));
        restart.err().awaitEof(Timeouts.EXIT);
        assertEquals(List.of("cryo: the image is empty (0 bytes)"), restart.err().all());
        assertEquals(List.of(), Cryo.list(stage));
    }

    private static List<Path> fds(long pid) {
        try (var s = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            return s.toList();
        } catch (IOException e) {
            return new ArrayList<>();
        }
    }

    private static String link(Path fd) {
        try {
            return Files.readSymbolicLink(fd).toString();
        } catch (IOException e) {
            return "";
        }
    }

    private static String read(Path f) {
        try {
            return Files.readString(f, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    static void run(String... cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes());
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(String.join(" ", cmd) + " timed out");
            }
            assertEquals(0, p.exitValue(), () -> String.join(" ", cmd) + ": " + out);
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
