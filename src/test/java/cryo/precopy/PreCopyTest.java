package cryo.precopy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
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
 * checkpoint --pre-copy of src/test/c/precopy.c, which writes random pages all the time (and drops some with
 * MADV_DONTNEED, forks, replaces and moves mappings once the pre-copy has begun) and checks all of its memory
 * itself after restart; and the tracking cryo leaves behind: none, whatever the outcome.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class PreCopyTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    private static final String MB = "64";
    /** /proc/PID/pagemap bit 57: the page is write-protected by userfaultfd (Documentation/admin-guide/mm/pagemap.rst). */
    private static final long PM_UFFD_WP = 1L << 57;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    /** The running fixture: its process, pid and the address and size of its big region. */
    private record Writer(Proc proc, long pid, long base, long bytes, Instant started) {
    }

    private Writer start(String... extra) {
        Path exe = Fixtures.compile(tmp, "precopy", Fixtures.Build.PIE);
        List<String> cmd = new ArrayList<>(List.of(exe.toString(), MB));
        cmd.addAll(List.of(extra));
        Instant t0 = Instant.now();
        Proc p = cleanup.start("precopy", new ProcessBuilder(cmd));
        String[] region = p.await("REGION", l -> l.startsWith("REGION ")).split(" ");
        long pid = p.awaitReady();
        assertEquals(p.pid(), pid);
        return new Writer(p, pid, Long.parseUnsignedLong(region[1].substring(2), 16), Long.parseLong(region[2]), t0);
    }

    /** The child the fixture forked during the pre-copy, if it printed one before it was frozen. */
    private static List<Long> children(List<String> lines) {
        return lines.stream().filter(l -> l.startsWith("CHILD ")).map(l -> Long.parseLong(l.substring(6).trim())).toList();
    }

    /** SIGUSR1 to the restored parent (which passes it on to its child): "OK parent" and, with a child, "OK child". */
    private static void checkMemory(Proc out, long pid, boolean child) {
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (!(Procfs.alive(pid) && Procfs.tracerPid(pid) == 0)) {
            assertTrue(System.nanoTime() < deadline, "pid " + pid + " was not restored and released");
            Procfs.sleep(Duration.ofMillis(20));
        }
        assertTrue(Os.kill(pid, Os.SIGUSR1));
        boolean parentOk = false, childOk = !child;
        while (!parentOk || !childOk) {
            String l = out.await("OK or FAIL", s -> s.startsWith("OK ") || s.startsWith("FAIL "));
            assertTrue(l.startsWith("OK "), "the restored memory differs: " + l);
            if (l.startsWith("OK parent")) parentOk = true;
            if (l.startsWith("OK child")) childOk = true;
        }
    }

    private static int validRecords(Path image) {
        return TreeFixtures.withRecords(image, rs -> (int) rs.stream().filter(r -> r instanceof PreCopyValidRecord).count());
    }

    @Test
    void pagesWrittenWhileCopiedComeBackExact() {
        Writer w = start();
        Path image = tmp.resolve("pre.img");
        Cryo.checkpoint(cleanup, w.pid(), image, "--pre-copy");
        w.proc().awaitExit(Timeouts.EXIT);
        w.proc().out().awaitEof(Duration.ofSeconds(10));
        List<Long> kids = children(w.proc().out().all());
        subreaper.foreign(cleanup, kids, w.started(), "precopy child");
        List<Long> tree = new ArrayList<>(kids);
        tree.add(w.pid());
        TreeFixtures.awaitAllGone(tree, Duration.ofSeconds(30));
        assertTrue(validRecords(image) >= 1, "pages copied before the freeze are used");

        Instant t1 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, w.pid());
        subreaper.foreign(cleanup, tree, t1, "restored precopy");
        checkMemory(rest, w.pid(), !kids.isEmpty());
        checkMemory(rest, w.pid(), !kids.isEmpty());      // and still after it ran on
    }

    @Test
    void leaveRunningLeavesNoWriteProtectionBehind() throws IOException {
        Writer w = start();
        Cryo.checkpoint(cleanup, w.pid(), tmp.resolve("lr.img"), "--pre-copy=3", "--leave-running");
        Procfs.assertRunningUntraced(w.pid(), "the original after --pre-copy --leave-running");
        assertNoTracking(w, 0);
        List<Long> kids = children(w.proc().out().all());
        subreaper.foreign(cleanup, kids, w.started(), "precopy child");
        for (long k : kids) assertEquals(0, userfaultfds(k), "userfaultfds of the child " + k);
        checkMemory(w.proc(), w.pid(), !kids.isEmpty());
    }

    @Test
    void refusalAtTheFinalFreezeLeavesNoWriteProtectionBehind() throws IOException {
        Writer w = start("uffd");          // a userfaultfd of its own: refused once the tree is frozen
        Path image = tmp.resolve("refused.img");
        Cryo.Result r = Cryo.run(cleanup, "checkpoint", Long.toString(w.pid()), "-o", image.toString(), "--pre-copy");
        assertNotEquals(0, r.exit(), r.describe());
        assertTrue(r.stderr().contains("registered with userfaultfd"), r.describe());
        assertFalse(Files.exists(image), "no image after a refusal");
        Procfs.assertRunningUntraced(w.pid(), "the original after a refused checkpoint");
        assertNoTracking(w, 1);
        subreaper.foreign(cleanup, children(w.proc().out().all()), w.started(), "precopy child");
        checkMemory(w.proc(), w.pid(), !children(w.proc().out().all()).isEmpty());
    }

    @Test
    void failureAfterThePagesLeavesNoWriteProtectionBehind() throws IOException {
        Writer w = start();
        Path image = tmp.resolve("failed.img");
        Cryo.Result r = Cryo.runEnv(cleanup, Map.of("CRYO_FAULT", "after-pages"), "checkpoint", Long.toString(w.pid()), "-o", image.toString(), "--pre-copy");
        assertTrue(r.assertOneLineError().contains("after-pages"), r.describe());
        assertFalse(Files.exists(image), "no image after a failure");
        Procfs.assertRunningUntraced(w.pid(), "the original after a failed checkpoint");
        assertNoTracking(w, 0);
        subreaper.foreign(cleanup, children(w.proc().out().all()), w.started(), "precopy child");
        checkMemory(w.proc(), w.pid(), !children(w.proc().out().all()).isEmpty());
    }

    @Test
    void cryoKilledDuringTheRoundsLeavesNoWriteProtectionBehind() throws Exception {
        Writer w = start();
        // Into a pipe nobody reads, round 0 blocks once the pipe is full: cryo is then surely between its stops.
        ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), "checkpoint", "--pre-copy", "-o", "-", Long.toString(w.pid())))
                .directory(Cryo.root().toFile()).redirectError(ProcessBuilder.Redirect.DISCARD);
        Cryo.environment(pb, Map.of());
        Process cryo = pb.start();
        cleanup.process(cryo);
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (!Files.readString(Path.of("/proc/" + w.pid() + "/smaps")).contains(" uw")) {
            assertTrue(cryo.isAlive() && System.nanoTime() < deadline, "cryo never registered the memory of " + w.pid());
            Procfs.sleep(Duration.ofMillis(10));
        }
        cryo.destroyForcibly();
        assertTrue(cryo.waitFor(Timeouts.EXIT.toMillis(), TimeUnit.MILLISECONDS));
        Procfs.assertRunningUntraced(w.pid(), "the original after cryo was killed");
        assertNoTracking(w, 0);
        subreaper.foreign(cleanup, children(w.proc().out().all()), w.started(), "precopy child");
        checkMemory(w.proc(), w.pid(), !children(w.proc().out().all()).isEmpty());
    }

    /**
     * A pre-copied image restarted lazily by a -d server: the pages of a pre-copied record that stayed valid
     * (often from its first page on, the rest written since) are checked by that record's CRC there too.
     */
    @Test
    void preCopiedImageRestartsLazilyDetached() {
        Writer w = start("still");
        Path image = tmp.resolve("pre.img");
        Cryo.checkpoint(cleanup, w.pid(), image, "--pre-copy");
        w.proc().awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(List.of(w.pid()), Duration.ofSeconds(30));
        assertTrue(validRecords(image) >= 1, "pages copied before the freeze are used");
        Instant t1 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, w.pid(), "-d", "--lazy");
        subreaper.foreign(cleanup, List.of(w.pid()), t1, "restored precopy");
        checkMemory(rest, w.pid(), false);
    }

    @Test
    void streamedThroughAPipeIntoRestart() {
        Writer w = start();
        Path stage = tmp.resolve("stage");
        try {
            Files.createDirectories(stage);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        String cryo = Cryo.bin().toString();
        ProcessBuilder pb = new ProcessBuilder("sh", "-c", cryo + " checkpoint --pre-copy -o - " + w.pid() + " | " + cryo + " restart --stage " + stage + " -")
                .directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of());
        cleanup.foreign(w.pid(), Instant.now(), "migrated precopy");
        Proc migrate = cleanup.start("migrate", pb);
        w.proc().awaitExit(Timeouts.EXIT);     // the original is killed once its image is out
        w.proc().out().awaitEof(Duration.ofSeconds(10));
        List<Long> kids = children(w.proc().out().all());
        subreaper.foreign(cleanup, kids, w.started(), "precopy child");
        checkMemory(migrate, w.pid(), !kids.isEmpty());
        assertEquals(List.of(), Cryo.list(stage), "the staged stream has no name");
    }

    @Test
    void badPreCopyRecordsAreOneLineErrors() {
        Writer w = start();
        Path image = tmp.resolve("good.img");
        Cryo.checkpoint(cleanup, w.pid(), image, "--pre-copy=2", "--leave-running");
        Map<String, java.util.function.UnaryOperator<List<ImageRecord>>> breakages = Map.of(
                "PRECOPY_ROUND", rs -> replace(rs, PreCopyRoundRecord.class, 1, r -> new PreCopyRoundRecord(5)),
                "PRECOPY_VALID", rs -> replace(rs, PreCopyValidRecord.class, 0, r -> TreeFixtures.with(r, "source", 4_000_000)),
                "PRECOPY_PAGES", rs -> replace(rs, PreCopyPagesRecord.class, 0, r -> TreeFixtures.with(r, "addr", r.addr() + 8)));
        for (var b : breakages.entrySet()) {
            Path bad = tmp.resolve("bad-" + b.getKey() + ".img");
            TreeFixtures.rewrite(image, bad, b.getValue());
            // (the original still runs and holds the pid: a restart that took the image would fail later, otherwise)
            String line = Cryo.run(cleanup, "restart", bad.toString()).assertOneLineError();
            assertTrue(line.contains("record " + b.getKey()) && line.contains("field '"), line);
        }
    }

    /** rs with the n-th record of that class replaced. */
    private static <R extends ImageRecord> List<ImageRecord> replace(List<ImageRecord> rs, Class<R> kind, int n, java.util.function.UnaryOperator<R> change) {
        List<ImageRecord> out = new ArrayList<>(rs);
        int seen = 0;
        for (int i = 0; i < out.size(); i++) {
            if (kind.isInstance(out.get(i)) && seen++ == n) {
                out.set(i, change.apply(kind.cast(out.get(i))));
                return out;
            }
        }
        throw new AssertionError("the image has no " + kind.getSimpleName() + " #" + n);
    }

    /** No page of the region write-protected, no VMA registered, and only the fixture's own userfaultfds left. */
    private static void assertNoTracking(Writer w, int ownUffds) throws IOException {
        long pages = w.bytes() / 4096;
        ByteBuffer b = ByteBuffer.allocate((int) pages * 8).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel pm = FileChannel.open(Path.of("/proc/" + w.pid() + "/pagemap"))) {
            while (b.hasRemaining()) if (pm.read(b, w.base() / 4096 * 8 + b.position()) <= 0) break;
        }
        int wp = 0;
        for (int i = 0; i < pages; i++) if ((b.getLong(i * 8) & PM_UFFD_WP) != 0) wp++;
        assertEquals(0, wp, "pages of the region still write-protected by userfaultfd");
        String smaps = Files.readString(Path.of("/proc/" + w.pid() + "/smaps"));
        assertFalse(smaps.lines().anyMatch(l -> l.startsWith("VmFlags:") && l.contains(" uw")), "a VMA still registered for write-protection");
        assertEquals(ownUffds, userfaultfds(w.pid()), "userfaultfds in the task");
    }

    private static int userfaultfds(long pid) throws IOException {
        int n = 0;
        try (var fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : (Iterable<Path>) fds::iterator) {
                try {
                    if (Files.readSymbolicLink(fd).toString().equals("anon_inode:[userfaultfd]")) n++;
                } catch (NoSuchFileException e) {
                    // closed meanwhile
                }
            }
        }
        return n;
    }
}
