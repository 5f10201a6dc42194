package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
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
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * File locks come back with the tree (src/test/c/locks.c): POSIX record locks of each process, OFD and flock
 * locks of each description (one shared by a parent and its child, one handed to a child by a parent that
 * closed its fd), and a task blocked in F_SETLKW still waits after restart. A probe process outside the tree
 * checks each lock with F_GETLK / F_OFD_GETLK / flock LOCK_NB before and after; the fixture checks from
 * inside that each lock belongs to the right description and can be let go and taken again. A lock someone
 * else took meanwhile fails the restart with one line; leases and locks on descriptions no fd holds are
 * refused at checkpoint.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class LocksTest {
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

    private Path exe() {
        Path exe = tmp.resolve("locks");
        return Files.isExecutable(exe) ? exe : Fixtures.compile(tmp, "locks", Fixtures.Build.PIE);
    }

    private Path dir() {
        Path d = tmp.resolve("d");
        try {
            Files.createDirectories(d);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return d;
    }

    /** Runs `locks probe QUERY...` outside the tree: each query's answer. */
    private Map<String, String> probe(List<String> queries) {
        List<String> cmd = new ArrayList<>(List.of(exe().toString(), "probe"));
        cmd.addAll(queries);
        Cryo.Result r = Cryo.collect(cleanup, cmd, new ProcessBuilder(cmd));
        assertEquals(0, r.exit(), () -> "the probe failed: " + r.describe());
        Map<String, String> out = new LinkedHashMap<>();
        for (String l : r.stdout().lines().toList()) {
            int arrow = l.indexOf(" -> ");
            out.put(l.substring(0, arrow), l.substring(arrow + 4));
        }
        return out;
    }

    /** What the probe must find while the `hold` tree runs; waiterHolds: c3 got bytes 100-149. */
    private static Map<String, String> expected(Path d, long p, long c1, long c3, boolean waiterHolds) {
        Map<String, String> m = new LinkedHashMap<>();
        String posix = d.resolve("posix").toString(), ofd = d.resolve("ofd").toString(), shared = d.resolve("shared").toString();
        m.put("getlk:" + posix + ":W:0:10", "R 0 10 " + p);
        m.put("getlk:" + posix + ":R:0:10", "U");
        m.put("getlk:" + posix + ":W:10:90", "U");
        m.put("getlk:" + posix + ":R:100:50", "W 100 50 " + (waiterHolds ? c3 : p));
        m.put("getlk:" + posix + ":W:150:50", "U");
        m.put("getlk:" + posix + ":R:200:0", "W 200 0 " + p);
        m.put("ofdgetlk:" + ofd + ":W:0:50", "W 0 50 -1");
        m.put("ofdgetlk:" + ofd + ":R:50:10", "U");
        m.put("ofdgetlk:" + ofd + ":R:60:10", "U");
        m.put("ofdgetlk:" + ofd + ":W:60:10", "R 60 10 -1");
        m.put("flock:" + d.resolve("flock_sh") + ":sh", "FREE");
        m.put("flock:" + d.resolve("flock_sh") + ":ex", "BUSY");
        m.put("flock:" + d.resolve("flock_ex") + ":sh", "BUSY");
        m.put("flock:" + shared + ":sh", "BUSY");
        m.put("ofdgetlk:" + shared + ":W:0:10", "W 0 10 -1");
        m.put("getlk:" + shared + ":W:20:10", "W 20 10 " + c1);
        m.put("getlk:" + shared + ":W:10:10", "U");
        m.put("flock:" + d.resolve("handed") + ":ex", "BUSY");
        m.put("flock:" + d.resolve("handed") + ":sh", "FREE");
        return m;
    }

    /** Waits until /proc/locks shows pid blocked on a POSIX lock (a "->" line). */
    private static void awaitBlocked(long pid) {
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (true) {
            try {
                for (String l : Files.readAllLines(Path.of("/proc/locks"))) {
                    String[] f = l.trim().split("\\s+");
                    if (f.length > 5 && f[1].equals("->") && f[2].equals("POSIX") && f[5].equals(Long.toString(pid))) return;
                }
            } catch (IOException e) {
                throw new AssertionError(e);
            }
            if (System.nanoTime() > deadline) throw new AssertionError("task " + pid + " is not blocked in F_SETLKW");
            Procfs.sleep(Duration.ofMillis(10));
        }
    }

    private static void ask(Proc p, String command, String answer) {
        p.send(command);
        String l = p.await(answer, x -> x.startsWith(answer + " ") || x.startsWith("SETUP-FAIL"));
        assertEquals(answer + " OK", l, () -> command + " failed:\n" + p.tails());
    }

    @Test
    void locksOfEveryKindComeBackWithTheirOwners() {
        Path d = dir();
        Instant t0 = Instant.now();
        Proc p = cleanup.start("locks", new ProcessBuilder(exe().toString(), "hold", d.toString()));
        String ready = p.await("READY", l -> l.startsWith("READY ") || l.startsWith("SETUP-FAIL"));
        assertTrue(ready.startsWith("READY "), ready);
        List<Long> pids = java.util.Arrays.stream(ready.substring(6).trim().split(" ")).map(Long::parseLong).toList();
        assertEquals(p.pid(), pids.get(0));
        long c1 = pids.get(1), c3 = pids.get(3);
        subreaper.foreign(cleanup, pids.subList(1, 4), t0, "locks child");
        assertEquals(expected(d, p.pid(), c1, c3, false), probe(List.copyOf(expected(d, 0, 0, 0, false).keySet())), "the fixture's locks before the checkpoint");
        ask(p, "verify", "VERIFY");

        Path image = tmp.resolve("locks.img");
        Cryo.checkpoint(cleanup, p.pid(), image);
        List<Map<String, String>> locks = PipeFixtureTest.showRecords(cleanup, image, "LOCK");
        assertEquals(4, locks.stream().filter(l -> l.get("kind").equals("POSIX")).count(), () -> "POSIX locks: " + locks);
        assertEquals(4, locks.stream().filter(l -> l.get("kind").equals("OFD")).count(), () -> "OFD locks: " + locks);
        assertEquals(5, locks.stream().filter(l -> l.get("kind").equals("FLOCK")).count(), () -> "flock locks: " + locks);
        assertTrue(locks.stream().anyMatch(l -> l.get("kind").equals("POSIX") && l.get("pid").equals(Long.toString(p.pid()))
                && l.get("type").equals("write") && l.get("start").equals("200") && l.get("len").equals("0")), () -> "the write lock to EOF: " + locks);
        assertEquals(128 + 9, p.awaitExit(Timeouts.EXIT), "the tree is killed after the checkpoint");
        PipeFixtureTest.awaitGone(pids);

        Proc r = PipeFixtureTest.restart(cleanup, subreaper, image, pids);
        assertEquals(expected(d, p.pid(), c1, c3, false), probe(List.copyOf(expected(d, 0, 0, 0, false).keySet())), "the locks after restart");
        awaitBlocked(c3);
        ask(r, "verify", "VERIFY");
        ask(r, "release", "RELEASED");
        assertEquals(expected(d, p.pid(), c1, c3, true), probe(List.copyOf(expected(d, 0, 0, 0, true).keySet())), "the waiter got its lock");
        ask(r, "verify", "VERIFY");
        ask(r, "relock", "RELOCK");
        assertEquals(expected(d, p.pid(), c1, c3, true), probe(List.copyOf(expected(d, 0, 0, 0, true).keySet())), "the locks after relocking");
        r.send("quit");
        r.await("BYE", l -> l.equals("BYE"));
        assertEquals(0, r.awaitExit(Timeouts.EXIT), "the restored fixture exits 0");
    }

    /**
     * After the checkpoint a process outside takes a lock in the way of one of the image: restart fails with
     * one line naming the file, the range and the holder, and leaves no process behind.
     */
    @ParameterizedTest
    @ValueSource(strings = {"posix", "ofd", "flock"})
    void aConflictingHolderFailsTheRestart(String kind) {
        Path d = dir();
        Path file = d.resolve("one");
        Proc p = cleanup.start("locks", new ProcessBuilder(exe().toString(), "one", kind, d.toString()));
        assertEquals(p.pid(), p.awaitReady());
        Path image = tmp.resolve("one.img");
        Cryo.checkpoint(cleanup, p.pid(), image);
        assertEquals(128 + 9, p.awaitExit(Timeouts.EXIT));
        List<String> take = switch (kind) {
            case "posix" -> List.of("posix", file.toString(), "w", "15", "10");
            case "ofd" -> List.of("posix", file.toString(), "r", "0", "0");
            default -> List.of("flock", file.toString(), "sh", "0", "0");
        };
        List<String> cmd = new ArrayList<>(List.of(exe().toString(), "take"));
        cmd.addAll(take);
        Proc taker = cleanup.start("taker", new ProcessBuilder(cmd));
        String taken = taker.await("TAKEN", l -> l.startsWith("TAKEN ") || l.startsWith("TAKE-FAIL") || l.startsWith("SETUP-FAIL"));
        assertEquals("TAKEN " + taker.pid(), taken);

        String line = Cryo.restartExpectingFailure(cleanup, image, p.pid()).assertOneLineError();
        assertTrue(line.contains(file.toString()), () -> "the line names the file: " + line);
        assertTrue(line.contains(kind.equals("flock") ? "the whole file" : "bytes 10-19"), () -> "the line names the range: " + line);
        assertTrue(line.contains("process " + taker.pid()), () -> "the line names the holder: " + line);
        assertFalse(Procfs.exists(p.pid()), "the failed restart left the task behind");
        String q = kind.equals("flock") ? "flock:" + file + ":ex" : "getlk:" + file + ":W:10:10";
        assertTrue(List.of("BUSY", "W 15 10 " + taker.pid(), "R 0 0 " + taker.pid()).contains(probe(List.of(q)).get(q)), "the outside holder keeps its lock");
        taker.closeStdin();
        assertEquals(0, taker.awaitExit(Timeouts.EXIT));
    }

    /**
     * LOCK records are checked field by field and against the records they name: each bad one fails the
     * restart with one line naming the record, and nothing is left behind.
     */
    @Test
    void badLockRecordsAreRejected() {
        Path d = dir();
        Proc p = cleanup.start("locks", new ProcessBuilder(exe().toString(), "one", "posix", d.toString()));
        assertEquals(p.pid(), p.awaitReady());
        Path good = tmp.resolve("good.img");
        Cryo.checkpoint(cleanup, p.pid(), good);
        assertEquals(128 + 9, p.awaitExit(Timeouts.EXIT));
        Map<String, java.util.function.UnaryOperator<cryo.image.ImageRecord>> locks = new LinkedHashMap<>();
        locks.put("'start' is negative", r -> cryo.task.TreeFixtures.with((LockRecord) r, "start", -5L));
        locks.put("'len' is negative", r -> cryo.task.TreeFixtures.with((LockRecord) r, "len", -1L));
        locks.put("runs past the largest offset", r -> cryo.task.TreeFixtures.with((LockRecord) r, "len", Long.MAX_VALUE));
        locks.put("pid 4000000 is not in the TREE", r -> cryo.task.TreeFixtures.with((LockRecord) r, "pid", 4_000_000));
        locks.put("objref 999999", r -> cryo.task.TreeFixtures.with((LockRecord) r, "openFile", 999_999));
        locks.put("of a flock lock must be 0", r -> cryo.task.TreeFixtures.with((LockRecord) r, "kind", LockRecord.Kind.FLOCK));
        int i = 0;
        for (var v : locks.entrySet()) {
            Path bad = tmp.resolve("bad-" + (i++) + ".img");
            cryo.task.TreeFixtures.rewrite(good, bad, rs -> rs.stream().map(r -> r instanceof LockRecord ? v.getValue().apply(r) : r).toList());
            String line = Cryo.restartExpectingFailure(cleanup, bad, p.pid()).assertOneLineError();
            assertTrue(line.contains("LOCK") && line.contains(v.getKey()), () -> "the error names the LOCK record and '" + v.getKey() + "': " + line);
            assertFalse(Procfs.exists(p.pid()), "a rejected image left the task behind");
        }
        // a write lock needs a description open for writing
        Path readOnly = tmp.resolve("read-only.img");
        cryo.task.TreeFixtures.rewrite(good, readOnly, rs -> {
            int ref = rs.stream().filter(r -> r instanceof LockRecord).map(r -> ((LockRecord) r).openFile()).findFirst().orElseThrow();
            return rs.stream().map(r -> r instanceof OpenFileRecord o && o.objref() == ref
                    ? cryo.task.TreeFixtures.with(o, "flags", o.flags() & ~3) : r).toList();
        });
        String line = Cryo.restartExpectingFailure(cleanup, readOnly, p.pid()).assertOneLineError();
        assertTrue(line.contains("LOCK") && line.contains("open for writing"), line);
    }

    /** A lease is refused at checkpoint with one line, and the tree runs on. */
    @Test
    void aLeaseIsRefused() {
        refusedAndRunning(List.of("lease"), "lease (F_SETLEASE)");
    }

    /** A lock held through a description that only a mapping keeps cannot be taken again: refused. */
    @Test
    void aFlockLockOnADescriptionNoFdHoldsIsRefused() {
        refusedAndRunning(List.of("mapped", "flock"), "open file description that no fd of the tree holds");
    }

    /** The same for an OFD lock, whose line in /proc/locks names no process: the tree maps the file. */
    @Test
    void anOfdLockOnADescriptionNoFdHoldsIsRefused() {
        refusedAndRunning(List.of("mapped", "ofd"), "open file description that no fd shows");
    }

    /** An OFD lock of a process outside the tree on a file the tree maps is that process's: no refusal. */
    @Test
    void anOutsideOfdLockOnAMappedFileIsNotTheTrees() {
        Path d = dir();
        Proc p = cleanup.start("locks", new ProcessBuilder(exe().toString(), "mapped", "none", d.toString()));
        assertEquals(p.pid(), p.awaitReady());
        Proc taker = cleanup.start("taker", new ProcessBuilder(exe().toString(), "take", "ofd", d.resolve("mapped").toString(), "w", "0", "0"));
        assertEquals("TAKEN " + taker.pid(), taker.await("TAKEN", l -> l.startsWith("TAKEN ") || l.contains("FAIL")));
        Path image = tmp.resolve("mapped.img");
        Cryo.checkpoint(cleanup, p.pid(), image, "--leave-running");
        assertTrue(PipeFixtureTest.showRecords(cleanup, image, "LOCK").isEmpty(), "the outside lock is not the tree's");
        p.send("quit");
        p.await("BYE", l -> l.equals("BYE"));
        assertEquals(0, p.awaitExit(Timeouts.EXIT));
        taker.closeStdin();
        assertEquals(0, taker.awaitExit(Timeouts.EXIT));
    }

    private void refusedAndRunning(List<String> mode, String reason) {
        Path d = dir();
        List<String> cmd = new ArrayList<>(List.of(exe().toString()));
        cmd.addAll(mode);
        cmd.add(d.toString());
        Proc p = cleanup.start("locks", new ProcessBuilder(cmd));
        assertEquals(p.pid(), p.awaitReady());
        Path image = tmp.resolve(mode.getFirst() + ".img");
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(p.pid()), "-o", image.toString()).assertOneLineError();
        assertTrue(line.contains(reason) && line.contains(Long.toString(p.pid())), () -> "the refusal names the task and the reason: " + line);
        assertFalse(Files.exists(image), "no image is written");
        p.send("ping");
        p.await("PONG", l -> l.equals("PONG"));
        p.send("quit");
        p.await("BYE", l -> l.equals("BYE"));
        assertEquals(0, p.awaitExit(Timeouts.EXIT), "the tree ran on");
    }
}
