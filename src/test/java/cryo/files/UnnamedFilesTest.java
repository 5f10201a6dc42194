package cryo.files;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.task.DeletedCwdRecord;
import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * Files without a name (src/test/c/unnamed.c, which checks itself): a sealed memfd mapped shared by a parent
 * and its child, with a second read-only description, a memfd only mapped (its fd closed), a memfd sealed
 * against writes and further seals; a FIFO
 * unlinked with 10 KiB buffered; a removed current directory. Each comes back as one object with its
 * contents, and nothing is left on disk; bad images of them fail with one line and leave nothing behind.
 * -Dcryo.loops=N repeats each scenario N times.
 */
@Timeout(value = 20, unit = TimeUnit.MINUTES)
class UnnamedFilesTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    private static final int LOOPS = Integer.getInteger("cryo.loops", 1);

    private static void mkdirs(Path p) {
        try {
            Files.createDirectories(p);
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    record Started(Proc proc, List<Long> pids) {}

    private Started start(String... args) {
        Path exe = tmp.resolve("unnamed");
        if (!Files.isExecutable(exe)) exe = Fixtures.compile(tmp, "unnamed", Fixtures.Build.PIE);
        List<String> cmd = new ArrayList<>(List.of(exe.toString()));
        cmd.addAll(List.of(args));
        Instant t0 = Instant.now();
        Proc p = cleanup.start("unnamed", new ProcessBuilder(cmd));
        String[] f = p.await("READY", s -> s.startsWith("READY ")).split(" ");
        long child = Long.parseLong(f[2]);
        List<Long> pids = new ArrayList<>(List.of(p.pid()));
        if (child != 0) {
            pids.add(child);
            subreaper.foreign(cleanup, List.of(child), t0, "unnamed child");
        }
        return new Started(p, pids);
    }

    private static void checkOk(Proc p, String when) {
        p.send("check");
        assertEquals("OK", p.await("OK or FAIL", l -> l.equals("OK") || l.startsWith("FAIL")), when);
    }

    private static void quit(Proc p) {
        p.send("quit");
        p.await("BYE", l -> l.equals("BYE"));
        assertEquals(0, p.awaitExit(Timeouts.EXIT));
    }

    private Path checkpoint(Started s, String name) {
        Path image = tmp.resolve(name);
        Cryo.checkpoint(cleanup, s.proc().pid(), image);
        assertEquals(128 + Os.SIGKILL, s.proc().awaitExit(Timeouts.EXIT), "the fixture is killed after the checkpoint");
        TreeFixtures.awaitAllGone(s.pids(), Duration.ofSeconds(30));
        return image;
    }

    private Proc restart(Path image, List<Long> pids) {
        Proc r = PipeFixtureTest.startRestart(cleanup, subreaper, image, pids);
        PipeFixtureTest.awaitReleased(r, pids);
        return r;
    }

    @Test
    void aSealedMemfdMappedByTwoProcessesStaysOneObject() {
        for (int i = 0; i < LOOPS; i++) {
            Started s = start("memfd");   // not checked before: check reads the holes, which fills them
            Path image = checkpoint(s, "memfd-" + i + ".img");
            List<Map<String, String>> memfds = PipeFixtureTest.showRecords(cleanup, image, "MEMFD");
            assertEquals(3, memfds.size(), "three MEMFD records (one per memfd, however many fds and mappings): " + memfds);
            assertTrue(memfds.stream().anyMatch(m -> "0x9".equals(m.get("seals"))), "a MEMFD with F_SEAL_WRITE|F_SEAL_SEAL: " + memfds);
            List<Map<String, String>> vmas = PipeFixtureTest.showRecords(cleanup, image, "VMA").stream().filter(v -> "MEMFD".equals(v.get("kind"))).toList();
            assertEquals(6, vmas.size(), "three memfd mappings in each of two processes: " + vmas);
            Map<String, String> sealed = memfds.stream().filter(m -> "0x6".equals(m.get("seals"))).findFirst().orElseThrow(
                    () -> new AssertionError("no MEMFD with seals F_SEAL_SHRINK|F_SEAL_GROW (0x6): " + memfds));
            assertEquals("4194304", sealed.get("size"), "the sealed memfd's size: " + sealed);
            // holes stay holes: only the two extents the fixture wrote (the child reads page 0 only)
            assertEquals(Long.toString((1L << 20) + 65536), sealed.get("data_bytes"), "the sealed memfd's data: " + sealed);
            Proc r = restart(image, s.pids());
            checkOk(r, "after restart");
            checkOk(r, "after restart, again");
            quit(r);
        }
    }

    @Test
    void anUnlinkedFifoComesBackWithItsBuffer() {
        for (int i = 0; i < LOOPS; i++) {
            Path dir = tmp.resolve("fifo-" + i);
            mkdirs(dir);
            Started s = start("fifo", dir.toString());
            Path image = checkpoint(s, "fifo-" + i + ".img");
            List<Map<String, String>> f = PipeFixtureTest.showRecords(cleanup, image, "UNLINKED_FIFO");
            assertEquals(1, f.size(), "one UNLINKED_FIFO record: " + f);
            assertEquals(dir.resolve("fifo").toString(), f.getFirst().get("path"));
            PipeFixtureTest.PipeLine pipe = PipeFixtureTest.showPipes(cleanup, image).getFirst();
            assertEquals(10240, pipe.buffered(), "the FIFO's 10 KiB buffer");
            assertEquals(List.of(s.proc().pid() + ":3", s.proc().pid() + ":4"), pipe.holders().stream().sorted().toList(), "the FIFO's holders: " + pipe);
            Proc r = restart(image, s.pids());
            assertEquals(List.of(), Cryo.list(dir), "the FIFO was removed again before the tree ran");
            checkOk(r, "after restart");
            quit(r);
        }
    }

    @Test
    void aRemovedCwdIsRemovedAgainAfterRestart() {
        for (int i = 0; i < LOOPS; i++) {
            Path dir = tmp.resolve("cwd-" + i);
            mkdirs(dir);
            Started s = start("cwd", dir.toString());
            checkOk(s.proc(), "before checkpoint");
            Path image = checkpoint(s, "cwd-" + i + ".img");
            List<Map<String, String>> c = PipeFixtureTest.showRecords(cleanup, image, "DELETED_CWD");
            assertEquals(1, c.size(), "one DELETED_CWD record: " + c);
            assertEquals("040751", c.getFirst().get("mode"));
            Proc r = restart(image, s.pids());
            assertEquals(List.of(), Cryo.list(dir), "the directory was removed again before the tree ran");
            checkOk(r, "after restart");
            quit(r);
        }
    }

    @Test
    void aRemovedRootThatIsAlsoTheCwdIsRemovedAgainAfterRestart() throws IOException {
        for (int i = 0; i < LOOPS; i++) {
            Path dir = tmp.resolve("root-" + i);
            mkdirs(dir);
            Started s = start("root", dir.toString());
            long pid = s.proc().pid();
            assertEquals(dir.resolve("jail") + " (deleted)", Files.readSymbolicLink(Path.of("/proc/" + pid + "/root")).toString());
            checkOk(s.proc(), "before checkpoint");
            Path image = checkpoint(s, "root-" + i + ".img");
            assertEquals(1, PipeFixtureTest.showRecords(cleanup, image, "DELETED_CWD").size(), "one DELETED_CWD record");
            assertEquals(List.of(Map.of("pid", Long.toString(pid))), PipeFixtureTest.showRecords(cleanup, image, "DELETED_ROOT").stream()
                    .map(m -> Map.of("pid", m.get("pid"))).toList(), "one DELETED_ROOT record");
            Proc r = restart(image, s.pids());
            assertEquals(List.of(), Cryo.list(dir), "the directory was removed again before the tree ran");
            assertEquals(dir.resolve("jail") + " (deleted)", Files.readSymbolicLink(Path.of("/proc/" + pid + "/root")).toString(), "the restored task's root");
            assertEquals(dir.resolve("jail") + " (deleted)", Files.readSymbolicLink(Path.of("/proc/" + pid + "/cwd")).toString(), "the restored task's cwd");
            checkOk(r, "after restart");
            quit(r);
        }
    }

    @Test
    void aRemovedRootThatIsNotTheCwdIsRefused() {
        Path dir = tmp.resolve("rootonly");
        mkdirs(dir);
        Started s = start("rootonly", dir.toString());
        long pid = s.proc().pid();
        Path image = tmp.resolve("rootonly.img");
        Cryo.Result res = Cryo.run(cleanup, "checkpoint", Long.toString(pid), "-o", image.toString());
        assertEquals(1, res.exit(), res.describe());
        String line = res.stderrLines().getFirst();
        System.out.println("[UnnamedFilesTest] refused: " + line);
        assertTrue(line.contains(Long.toString(pid)) && line.contains(dir.resolve("jail") + " (deleted)") && line.contains("cwd is another directory"),
                "the refusal names the task, its removed root and why: " + line);
        assertFalse(Files.exists(image), "no image after a refused checkpoint");
        Procfs.assertRunningUntraced(pid, "the task after a refused checkpoint");
        checkOk(s.proc(), "after the refused checkpoint");
        quit(s.proc());
    }

    @Test
    void aMemfdHeldOutsideTheTreeIsRefused() {
        Started s = start("memfd");
        long child = s.pids().get(1);
        Path image = tmp.resolve("outside.img");
        // only the child: its fds 3 and 4 of the memfd are its parent's too, and the parent is outside the tree
        Cryo.Result res = Cryo.run(cleanup, "checkpoint", Long.toString(child), "-o", image.toString());
        assertEquals(1, res.exit(), res.describe());
        assertEquals(4, res.stderrLines().size(), "one line per memfd fd (3, 4, 5), and the summary: " + res.describe());
        String line = res.stderrLines().getFirst();
        System.out.println("[UnnamedFilesTest] refused: " + line);
        assertTrue(line.contains("memfd:cryo memfd") && line.contains(Long.toString(child)) && line.contains(Long.toString(s.proc().pid())),
                "the refusal names the memfd, the task and the outside holder: " + line);
        assertFalse(Files.exists(image), "no image after a refused checkpoint");
        Procfs.assertRunningUntraced(child, "the child after a refused checkpoint");
        checkOk(s.proc(), "after the refused checkpoint");
        quit(s.proc());
    }

    // ------------------------------------------------------------------ bad images

    private void expectOneLineFailure(Path good, List<Long> pids, Map<String, UnaryOperator<List<ImageRecord>>> variants,
                                      Map<String, String> hints, Path mustStayEmpty) {
        subreaper.off();
        List<Executable> checks = new ArrayList<>();
        int i = 0;
        for (var v : variants.entrySet()) {
            Path bad = tmp.resolve("bad-" + good.getFileName() + "-" + (i++) + ".img");
            TreeFixtures.rewrite(good, bad, v.getValue());
            checks.add(() -> {
                Leftovers before = Leftovers.snapshot();
                String line = Cryo.restartExpectingFailure(cleanup, bad, pids.getFirst()).assertOneLineError();
                System.out.println("[UnnamedFilesTest] " + v.getKey() + ": " + line);
                // a restart failing after the tasks exist kills them; an orphaned child may wait for PID 1 to reap it
                TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(30));
                before.assertNone(cleanup, "restart of an image with " + v.getKey());
                assertTrue(line.contains(hints.get(v.getKey())), "the error for " + v.getKey() + " mentions '" + hints.get(v.getKey()) + "': " + line);
                if (mustStayEmpty != null) assertEquals(List.of(), Cryo.list(mustStayEmpty), v.getKey() + ": nothing left in " + mustStayEmpty);
            });
        }
        assertAll(checks);
        subreaper.on();
    }

    private static <R extends ImageRecord> UnaryOperator<List<ImageRecord>> change(Class<R> type, UnaryOperator<R> f) {
        return rs -> {
            List<ImageRecord> out = new ArrayList<>();
            boolean done = false;
            for (ImageRecord r : rs) {
                if (!done && type.isInstance(r)) {
                    out.add(f.apply(type.cast(r)));
                    done = true;
                } else {
                    out.add(r);
                }
            }
            return out;
        };
    }

    @Test
    void badImagesOfUnnamedFilesFailWithOneLine() {
        Started m = start("memfd");
        Path memfd = checkpoint(m, "memfd.img");
        Map<String, UnaryOperator<List<ImageRecord>>> v = new LinkedHashMap<>();
        Map<String, String> hints = new LinkedHashMap<>();
        v.put("memfd data shorter than the record says", rs -> {
            List<ImageRecord> out = new ArrayList<>(rs);
            for (int i = out.size() - 1; i >= 0; i--) if (out.get(i) instanceof MemfdDataRecord) { out.remove(i); break; }
            return out;
        });
        hints.put("memfd data shorter than the record says", "data_bytes");
        v.put("a seal mask with unknown bits", change(MemfdRecord.class, r -> TreeFixtures.with(r, "seals", r.seals() | 0x400)));
        hints.put("a seal mask with unknown bits", "seals");
        v.put("memfd data past its size", change(MemfdRecord.class, r -> TreeFixtures.with(r, Map.of("size", 4096L, "dataBytes", 0L))));
        hints.put("memfd data past its size", "past the end");
        // a valid mask that cannot go on: F_SEAL_WRITE on the memfd both processes map shared and writable (EBUSY), found only
        // once every task is restored, when the seals go on
        v.put("a write seal on a memfd mapped writable", rs -> rs.stream().map(r -> r instanceof MemfdRecord mr && mr.seals() == 0x6
                ? (ImageRecord) TreeFixtures.with(mr, "seals", 0xe) : r).toList());
        hints.put("a write seal on a memfd mapped writable", "F_ADD_SEALS");
        expectOneLineFailure(memfd, m.pids(), v, hints, null);

        Path dir = tmp.resolve("fifo");
        mkdirs(dir);
        Started f = start("fifo", dir.toString());
        Path fifo = checkpoint(f, "fifo.img");
        Path cdir = tmp.resolve("cwd");
        mkdirs(cdir);
        Started c = start("cwd", cdir.toString());
        Path cwd = checkpoint(c, "cwd.img");
        // the directories the FIFO and the cwd were in can no longer be written: recreating fails at restart
        Path gone = tmp.resolve("gone");
        Map<String, UnaryOperator<List<ImageRecord>>> v2 = new LinkedHashMap<>();
        Map<String, String> h2 = new LinkedHashMap<>();
        v2.put("an unlinked FIFO in a directory that is gone", change(UnlinkedFifoRecord.class, r -> TreeFixtures.with(r, "path", gone + "/fifo")));
        h2.put("an unlinked FIFO in a directory that is gone", gone + "/fifo");
        expectOneLineFailure(fifo, f.pids(), v2, h2, dir);
        Map<String, UnaryOperator<List<ImageRecord>>> v3 = new LinkedHashMap<>();
        Map<String, String> h3 = new LinkedHashMap<>();
        v3.put("a deleted cwd in a directory that is gone", rs -> {
            List<ImageRecord> out = new ArrayList<>();
            for (ImageRecord r : rs) {
                if (r instanceof DeletedCwdRecord d) out.add(TreeFixtures.with(d, "path", gone + "/gone"));
                else if (r instanceof cryo.task.TaskRecord t) out.add(TreeFixtures.with(t, "cwd", gone + "/gone (deleted)"));
                else out.add(r);
            }
            return out;
        });
        h3.put("a deleted cwd in a directory that is gone", gone + "/gone");
        v3.put("a DELETED_CWD whose path is not the task's cwd", change(DeletedCwdRecord.class, r -> TreeFixtures.with(r, "path", "/elsewhere")));
        h3.put("a DELETED_CWD whose path is not the task's cwd", "/elsewhere");
        v3.put("a DELETED_ROOT before the DELETED_CWD", rs -> {
            List<ImageRecord> out = new ArrayList<>();
            for (ImageRecord r : rs) {
                if (r instanceof DeletedCwdRecord d) out.add(new cryo.task.DeletedRootRecord(d.pid()));
                out.add(r);
            }
            return out;
        });
        h3.put("a DELETED_ROOT before the DELETED_CWD", "no DELETED_CWD record before it");
        expectOneLineFailure(cwd, c.pids(), v3, h3, cdir);
        assertFalse(Files.exists(gone), "cryo made no directory " + gone);
    }
}
