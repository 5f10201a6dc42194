package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
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
import java.util.Arrays;
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
 * Ghost files (src/test/c/ghost.c checks itself): a deleted file open and mapped MAP_SHARED by a parent and
 * its child, a sparse 1 GiB deleted file, an O_TMPFILE file, a deleted file that still has another name,
 * and python's tempfile.TemporaryFile come back with their contents, offsets and sharing, still without a
 * name; --ghost-limit refuses a large one.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class GhostFileTest {
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

    /** The fixture in `mode` working in dir, and the pids of its READY line (its own first). */
    record Started(Proc proc, List<Long> pids) {}

    static Started start(Cleanup cleanup, Subreaper subreaper, Path tmp, String mode, Path dir) {
        Path exe = Files.isExecutable(tmp.resolve("ghost")) ? tmp.resolve("ghost") : Fixtures.compile(tmp, "ghost", Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc p = cleanup.start("ghost " + mode, new ProcessBuilder(exe.toString(), mode, dir.toString()));
        String ready = p.await("READY", s -> s.startsWith("READY "));
        List<Long> pids = Arrays.stream(ready.substring(6).trim().split(" ")).map(Long::parseLong).toList();
        assertEquals(p.pid(), pids.getFirst());
        if (pids.size() > 1) subreaper.foreign(cleanup, pids.subList(1, pids.size()), t0, "ghost child");
        return new Started(p, pids);
    }

    static void assertCheck(Proc p, String mode, String when) {
        p.send("check");
        String l = p.await("OK or FAIL", s -> s.startsWith("OK ") || s.startsWith("FAIL "));
        assertEquals("OK " + mode, l, "ghost " + mode + " " + when);
    }

    static void quit(Proc p) {
        p.send("quit");
        assertEquals("BYE", p.await("BYE", l -> l.equals("BYE")));
        assertEquals(0, p.awaitExit(Timeouts.EXIT));
    }

    /** Checkpoints (the tree is killed) and waits until every pid of it is gone. */
    static void checkpoint(Cleanup cleanup, Started s, Path image, String... extra) {
        Cryo.checkpoint(cleanup, s.pids().getFirst(), image, extra);
        s.proc().awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(s.pids(), Duration.ofSeconds(30));
    }

    private Proc restart(Started s, Path image) {
        Instant t0 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, s.pids().getFirst());
        if (s.pids().size() > 1) subreaper.foreign(cleanup, s.pids().subList(1, s.pids().size()), t0, "restored ghost child");
        return rest;
    }

    /** The fixture checked before the checkpoint and after the restart; dir holds no name of it at any time. */
    private void roundTrip(String mode, String what) {
        Path dir = tmp.resolve("work");
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        List<String> before = Cryo.list(dir);
        Started s = start(cleanup, subreaper, tmp, mode, dir);
        assertCheck(s.proc(), mode, "before the checkpoint");
        Path image = tmp.resolve(mode + ".img");
        checkpoint(cleanup, s, image);
        Proc rest = restart(s, image);
        assertCheck(rest, mode, "after restart: " + what);
        assertCheck(rest, mode, "checked twice after restart");
        if (!mode.equals("hardlink")) assertEquals(before, Cryo.list(dir), "no name of the ghost file in " + dir);
        quit(rest);
    }

    @Test
    void aDeletedFileOpenAndMappedSharedByParentAndChild() {
        roundTrip("shared", "one description of one deleted file at offset 1234 in both processes, mapped shared "
                + "(each one's writes seen by the other), mode 0604, owner 1234:5678, mtime kept, nlink 0");
    }

    @Test
    void aSparseGigabyteDeletedFileCostsOnlyItsExtents() {
        Path dir = tmp.resolve("work");
        Started s;
        try {
            s = start(cleanup, subreaper, tmp, "sparse", Files.createDirectories(dir));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        assertCheck(s.proc(), "sparse", "before the checkpoint");
        Path image = tmp.resolve("sparse.img");
        checkpoint(cleanup, s, image);
        long size = size(image);
        assertTrue(size < (4L << 20), "the image of a 1 GiB file with 76 KiB of data is small: " + size + " bytes");
        List<Map<String, String>> ghosts = PipeFixtureTest.showRecords(cleanup, image, "GHOST");
        assertEquals(1, ghosts.size(), "one GHOST record: " + ghosts);
        assertEquals("1073741824", ghosts.getFirst().get("size"));
        assertEquals(Long.toString(4096 + 65536 + 8192), ghosts.getFirst().get("data_bytes"));
        assertEquals(3, PipeFixtureTest.showRecords(cleanup, image, "GHOST_DATA").size(), "one GHOST_DATA record per extent");
        String show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        assertTrue(show.contains("# ghost data: 1 ghost file, 77824 bytes of data"), "cryo show says how much ghost data the image holds:\n" + show);
        Proc rest = restart(s, image);
        assertCheck(rest, "sparse", "after restart: the same three extents at the same offsets, the rest holes, offset 77");
        assertEquals(List.of(), Cryo.list(dir));
        quit(rest);
    }

    @Test
    void anOTmpfileFile() {
        roundTrip("tmpfile", "an O_TMPFILE file of the same directory (DIR/#INODE (deleted)), 10000 bytes, mode 0640, offset 5000, mapped shared");
    }

    @Test
    void aDeletedFileWithAnotherNameIsReopenedByIt() {
        roundTrip("hardlink", "fd 3 is the file DIR/b names, at offset 7, nlink 1");
    }

    /** Keeps a tempfile.TemporaryFile (O_TMPFILE) of argv[1] at offset 12345; "read" checks it whole. */
    static final String TEMPFILE = """
                import os, sys, tempfile
                f = tempfile.TemporaryFile(dir=sys.argv[1])
                data = bytes((i * 31) % 251 for i in range(300000))
                f.write(data)
                f.flush()
                f.seek(12345)
                os.write(1, b'READY %d\\n' % os.getpid())
                for line in sys.stdin:
                    if line.strip() == 'read':
                        link = os.readlink('/proc/self/fd/%d' % f.fileno())
                        pos = f.tell()
                        f.seek(0)
                        got = f.read()
                        ok = got == data and pos == 12345 and link.endswith(' (deleted)') and os.fstat(f.fileno()).st_nlink == 0
                        os.write(1, b'%s %s %d %d\\n' % (b'OK' if ok else b'FAIL', link.encode(), pos, len(got)))
                        f.seek(pos)
                    elif line.strip() == 'quit':
                        os.write(1, b'BYE\\n')
                        break
                """;

    @Test
    void pythonTemporaryFileReadBackAfterRestart() throws IOException {
        Path python = Fixtures.python();
        Path dir = Files.createDirectories(tmp.resolve("py"));
        Proc p = cleanup.start("python", new ProcessBuilder(python.toString(), "-c", TEMPFILE, dir.toString()));
        long pid = p.awaitReady();
        readBack(p, "before the checkpoint");
        Path image = tmp.resolve("py.img");
        Cryo.checkpoint(cleanup, pid, image);
        p.awaitExit(Timeouts.EXIT);
        Procfs.awaitGone(pid, Timeouts.EXIT);
        Proc rest = Cryo.startRestart(cleanup, image, pid);
        readBack(rest, "after restart");
        readBack(rest, "read twice after restart");
        assertEquals(List.of(), Cryo.list(dir), "the temporary file has no name");
        rest.send("quit");
        rest.await("BYE", l -> l.equals("BYE"));
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }

    /** A ghost whose directory is gone comes back in restart --ghost-dir DIR. */
    @Test
    void aGhostWhoseDirectoryIsGoneComesBackInGhostDir() throws IOException {
        Path python = Fixtures.python();
        Path dir = Files.createDirectories(tmp.resolve("py"));
        Path elsewhere = Files.createDirectories(tmp.resolve("elsewhere"));
        Proc p = cleanup.start("python", new ProcessBuilder(python.toString(), "-c", TEMPFILE, dir.toString()));
        long pid = p.awaitReady();
        Path image = tmp.resolve("py.img");
        Cryo.checkpoint(cleanup, pid, image);
        p.awaitExit(Timeouts.EXIT);
        Procfs.awaitGone(pid, Timeouts.EXIT);
        Files.delete(dir);
        Proc rest = Cryo.startRestart(cleanup, image, pid, "--ghost-dir", elsewhere.toString());
        rest.send("read");
        String l = rest.await("OK or FAIL", s -> s.startsWith("OK ") || s.startsWith("FAIL ") || s.startsWith("Traceback"));
        assertTrue(l.startsWith("OK " + elsewhere + "/#") && l.endsWith(" (deleted) 12345 300000"),
                "the temporary file is in --ghost-dir, whole, at offset 12345: " + l + "\n" + rest.tails());
        assertEquals(List.of(), Cryo.list(elsewhere));
        rest.send("quit");
        rest.await("BYE", x -> x.equals("BYE"));
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }

    private static void readBack(Proc p, String when) {
        p.send("read");
        String l = p.await("OK or FAIL", s -> s.startsWith("OK ") || s.startsWith("FAIL ") || s.startsWith("Traceback"));
        assertTrue(l.startsWith("OK ") && l.endsWith(" (deleted) 12345 300000"), when + ": the temporary file reads back whole from offset 12345: " + l + "\n" + p.tails());
    }

    @Test
    void ghostLimitRefusesALargerFile() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("work"));
        Started s = start(cleanup, subreaper, tmp, "sparse", dir);
        long pid = s.pids().getFirst();
        Path image = tmp.resolve("limit.img");
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(pid), "-o", image.toString(), "--ghost-limit", "1M").assertOneLineError();
        System.out.println("[GhostFileTest] refused: " + line);
        assertTrue(line.contains("task " + pid) && line.contains("fd 3") && line.contains(dir.resolve("ghost-sparse") + " (deleted)")
                && line.contains("1073741824") && line.contains("--ghost-limit 1048576"), "the refusal names task, fd, file, size and limit: " + line);
        assertFalse(Files.exists(image), "no image after a refused checkpoint");
        Procfs.assertRunningUntraced(pid, "the tree after a refused checkpoint");
        assertCheck(s.proc(), "sparse", "after the refused checkpoint");
        quit(s.proc());
    }

    static long size(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
