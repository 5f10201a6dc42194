package cryo.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code -o PATH} writes an image only to a regular file (or stdout): any other node at PATH is refused before
 * the tree is frozen, and left as it was; a directory that is missing, read-only or full is a one-line error
 * naming the path given. In every case the tree runs on and no temporary file is left.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class OutputTargetTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    /** What identifies a node: its inode, mode and size, read without following a symlink. */
    private static String node(Path p) throws IOException {
        return Files.getAttribute(p, "unix:ino", LinkOption.NOFOLLOW_LINKS) + " "
                + Integer.toOctalString((Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS)) + " "
                + Files.getAttribute(p, "unix:rdev", LinkOption.NOFOLLOW_LINKS) + " "
                + Files.size(p);
    }

    private String refused(Proc target, Path out, String what) throws IOException {
        Path dir = out.getParent();
        List<String> before = Files.isDirectory(dir) ? Cryo.list(dir) : List.of();
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(target.pid()), "-o", out.toString()).assertOneLineError();
        assertTrue(line.contains(out.toString()), "the error names the path given: " + line);
        assertTrue(line.contains(what), "the error says what is there (" + what + "): " + line);
        Procfs.assertRunningUntraced(target.pid(), "the target");
        if (Files.isDirectory(dir)) assertEquals(before, Cryo.list(dir), "nothing new in " + dir + " (no temporary file)");
        return line;
    }

    @Test
    void aCharacterDeviceIsRefusedAndStaysADevice() throws IOException {
        Proc target = Fixtures.startSleep(cleanup);
        Path dev = tmp.resolve("null");
        run("mknod", dev.toString(), "c", "1", "3");
        String was = node(dev);
        refused(target, dev, "character device");
        assertEquals(was, node(dev), "the device node is unchanged");
    }

    @Test
    void aFifoWithAReaderIsRefusedAndTheReaderGetsNothing() throws IOException {
        Proc target = Fixtures.startSleep(cleanup);
        Path fifo = tmp.resolve("fifo");
        run("mkfifo", fifo.toString());
        String was = node(fifo);
        Proc reader = cleanup.start("reader", new ProcessBuilder("sh", "-c", "exec wc -c < " + fifo));
        refused(target, fifo, "FIFO");
        assertEquals(was, node(fifo), "the FIFO is unchanged");
        // the reader is still waiting for a writer: open the FIFO ourselves and close it, it must count 0 bytes
        Files.write(fifo, new byte[0]);
        assertEquals("0", reader.out().next("the byte count", Timeouts.LINE).trim());
        reader.awaitExit(Timeouts.EXIT);
    }

    @Test
    void aSymlinkIsRefusedAndItsTargetUntouched() throws IOException {
        Proc target = Fixtures.startSleep(cleanup);
        Path file = Files.writeString(tmp.resolve("precious"), "keep me\n");
        Path link = Files.createSymbolicLink(tmp.resolve("link"), file);
        refused(target, link, "symbolic link");
        assertTrue(Files.isSymbolicLink(link), "the symlink is still a symlink");
        assertEquals("keep me\n", Files.readString(file));
    }

    @Test
    void aDirectoryIsRefused() throws IOException {
        Proc target = Fixtures.startSleep(cleanup);
        Path dir = Files.createDirectory(tmp.resolve("dir"));
        refused(target, dir, "directory");
        assertTrue(Files.isDirectory(dir));
        assertEquals(List.of(), Cryo.list(dir));
    }

    @Test
    void aMissingDirectoryIsNamed() throws IOException {
        Proc target = Fixtures.startSleep(cleanup);
        refused(target, tmp.resolve("missing/x.img"), "does not exist");
    }

    @Test
    void aRegularFileIsReplacedWhole() throws IOException {
        Proc target = Fixtures.startSleep(cleanup);
        Path img = Files.writeString(tmp.resolve("old.img"), "an old image");
        Cryo.checkpoint(cleanup, target.pid(), img, "--leave-running");
        assertTrue(Files.size(img) > 100, "the new image replaced the old one");
        assertEquals("rw-------", Cryo.perms(img));
        assertEquals(List.of("old.img"), Cryo.list(tmp));
        Procfs.assertRunningUntraced(target.pid(), "the target");
    }

    @Test
    void aReadOnlyFileSystemAndAFullOneAreOneLineErrors() throws IOException {
        Fixtures.assumeTool("mount");
        Path ro = Files.createDirectory(tmp.resolve("ro")), full = Files.createDirectory(tmp.resolve("full"));
        run("mount", "-t", "tmpfs", "-o", "ro,size=1m", "cryo-test-ro", ro.toString());
        try {
            run("mount", "-t", "tmpfs", "-o", "size=64k", "cryo-test-full", full.toString());
            try {
                // A process with more than 64 KiB of its own pages.
                Proc target = cleanup.start("py", new ProcessBuilder("python3", "-c",
                        "import os,sys; b=bytearray(os.urandom(1<<20)); sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()"));
                target.out().next("ready", Timeouts.LINE);
                refused(target, ro.resolve("x.img"), "Read-only file system");
                refused(target, full.resolve("x.img"), "No space left on device");
                assertEquals(List.of(), Cryo.list(full), "no temporary file left on the full file system");
            } finally {
                run("umount", "-l", full.toString());
            }
        } finally {
            run("umount", "-l", ro.toString());
        }
    }

    @Test
    void aFileTheTreeHasOpenOrItsOwnExecutableIsRefused() throws IOException {
        Path log = Files.writeString(tmp.resolve("tree.log"), "");
        Path exe = tmp.resolve("mysleep");
        Files.copy(Path.of("/bin/sleep"), exe);
        exe.toFile().setExecutable(true);
        Proc writer = cleanup.start("writer", new ProcessBuilder("sh", "-c", "exec 3>>" + log + "; exec " + exe + " 100000"));
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (!Procfs.stat(writer.pid()).map(s -> s.comm().equals("mysleep")).orElse(false)) {
            assertTrue(System.nanoTime() < deadline, "the target did not start");
            Procfs.sleep(java.time.Duration.ofMillis(10));
        }
        String was = node(exe);
        refused(writer, log, "a file the tree has open or mapped");
        refused(writer, exe, "a file the tree has open or mapped");
        assertEquals(was, node(exe), "the executable is unchanged");
        assertEquals("", Files.readString(log));
    }

    @Test
    void anEmptyPathIsAUsageError() {
        Proc target = Fixtures.startSleep(cleanup);
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(target.pid()), "-o", "").assertOneLineError();
        assertTrue(line.contains("-o needs a file name"), line);
        Procfs.assertRunningUntraced(target.pid(), "the target");
    }

    private static void run(String... cmd) {
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
