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
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import cryo.image.ImageRecord;
import cryo.image.Tree;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fd state that restart used to refuse or fail on (src/test/c/fd_kinds.c, which checks itself): a pipe
 * opened a second time through /proc/self/fd (two descriptions of one end, one O_RDWR), a task's own /proc
 * files (maps read in part, a thread's stat, /proc/meminfo), and an fd table shared by three processes
 * (CLONE_FILES). A /proc file of a task outside the tree is refused at checkpoint with one line.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class FdKindsTest {
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

    /** The fixture in `mode`, and the pids of its READY line (its own first). */
    private record Started(Proc proc, List<Long> pids) {}

    private Started start(String mode) {
        Path exe = Fixtures.compile(tmp, "fd_kinds", Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc p = cleanup.start("fd_kinds " + mode, new ProcessBuilder(exe.toString(), mode));
        String ready = p.await("READY", s -> s.startsWith("READY "));
        List<Long> pids = Arrays.stream(ready.substring(6).trim().split(" ")).map(Long::parseLong).toList();
        assertEquals(p.pid(), pids.getFirst());
        if (pids.size() > 1 && !mode.equals("proc")) subreaper.foreign(cleanup, pids.subList(1, pids.size()), t0, "fd_kinds process");
        return new Started(p, pids);
    }

    private static void assertCheck(Proc p, String mode, String when) {
        p.send("check");
        String l = p.await("OK or FAIL", s -> s.startsWith("OK ") || s.startsWith("FAIL "));
        assertEquals("OK " + mode, l, "fd_kinds " + mode + " " + when);
    }

    /** Checkpoints the tree (killed), restarts it, and returns the restored root talking through cryo. */
    private Proc checkpointAndRestart(Started s, String mode, List<Long> processes) {
        Path image = tmp.resolve(mode + ".img");
        Cryo.checkpoint(cleanup, s.pids().getFirst(), image);
        s.proc().awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(processes, Duration.ofSeconds(30));
        Instant t0 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, s.pids().getFirst());
        subreaper.foreign(cleanup, processes, t0, "restored fd_kinds");
        return rest;
    }

    private static void quit(Proc rest) {
        rest.send("quit");
        assertEquals("BYE", rest.await("BYE", l -> l.equals("BYE")));
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }

    @Test
    void aPipeOpenedTwiceComesBackAsDescriptionsOfOnePipe() {
        Started s = start("pipes");
        Proc rest = checkpointAndRestart(s, "pipes", s.pids());
        assertCheck(rest, "pipes", "after restart: six fds of one pipe, each description with its own flags, "
                + "fd 5 still fd 3's, the 12 unread bytes once, and data written through each writer read through each reader");
        quit(rest);
    }

    @Test
    void procFilesOfTheTaskReopenAtTheirOffset() {
        Started s = start("proc");
        // the worker thread's tid is on the READY line too; only the process is a pid of its own
        Proc rest = checkpointAndRestart(s, "proc", s.pids().subList(0, 1));
        assertCheck(rest, "proc", "after restart: /proc/self/maps read on from offset 100, the worker thread's "
                + "/proc/PID/task/TID/stat, /proc/meminfo at offset 10");
        quit(rest);
    }

    @Test
    void aProcFileOfATaskOutsideTheTreeIsRefused() {
        Started s = start("procparent");
        long pid = s.pids().getFirst();
        long jvm = ProcessHandle.current().pid();
        Path image = tmp.resolve("outside.img");
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(pid), "-o", image.toString()).assertOneLineError();
        System.out.println("[FdKindsTest] refused: " + line);
        assertTrue(line.contains("/proc/" + jvm + "/status") && line.contains("outside the tree") && line.contains("fd 7"),
                "the refusal names the fd, the file and why: " + line);
        assertFalse(Files.exists(image), "no image after a refused checkpoint");
        Procfs.assertRunningUntraced(pid, "the tree after a refused checkpoint");
        s.proc().send("quit");
        assertEquals("BYE", s.proc().await("BYE", l -> l.equals("BYE")));
        assertEquals(0, s.proc().awaitExit(Timeouts.EXIT));
    }

    @Test
    void processesSharingAnFdTableShareItAfterRestart() {
        Started s = start("clonefiles");
        assertCheck(s.proc(), "clonefiles", "before the checkpoint");
        Path image = tmp.resolve("clonefiles.img");
        Proc rest = checkpointAndRestart(s, "clonefiles", s.pids());
        String show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        long root = s.pids().getFirst();
        long fdRecordsOfOthers = show.lines().filter(l -> l.startsWith("FD") && !l.contains("pid=" + root + " ")
                && !l.contains("pid=" + s.pids().get(3) + " ")).count();
        assertEquals(0, fdRecordsOfOthers, "the sharers' fds are saved once, with the parent's:\n" + show);
        assertCheck(rest, "clonefiles", "after restart: the child and grandchild share the parent's fd table "
                + "(kcmp KCMP_FILES, an fd the grandchild opens is the parent's), the forked child does not");
        assertEquals(root, Procfs.ppid(s.pids().get(1)), "the child's parent");
        assertEquals(s.pids().get(1), Procfs.ppid(s.pids().get(2)), "the grandchild's parent");
        quit(rest);
    }

    @Test
    void childrenSharingATableTheirParentDoesNotUseAreRefused() {
        Started s = start("siblings");
        long parent = s.pids().get(0), first = s.pids().get(1), second = s.pids().get(2);
        Path image = tmp.resolve("siblings.img");
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(parent), "-o", image.toString()).assertOneLineError();
        System.out.println("[FdKindsTest] refused: " + line);
        assertTrue(line.contains("task " + second) && line.contains(Long.toString(first)) && line.contains(Long.toString(parent))
                        && line.contains("fd table"), "the refusal names both sharers, the parent and the fd table: " + line);
        assertFalse(Files.exists(image), "no image after a refused checkpoint");
        for (long p : s.pids()) Procfs.assertRunningUntraced(p, "task " + p + " after a refused checkpoint");
        s.proc().send("quit");
        assertEquals("BYE", s.proc().await("BYE", l -> l.equals("BYE")));
        assertEquals(0, s.proc().awaitExit(Timeouts.EXIT));
    }

    @Test
    void aTableSharedWithAProcessOutsideTheTreeIsRefused() {
        Started s = start("clonefiles");
        long parent = s.pids().get(0), child = s.pids().get(1);
        Path image = tmp.resolve("outside-table.img");
        // the child and grandchild share the parent's table; the parent is outside a checkpoint of the child
        Cryo.Result r = Cryo.run(cleanup, "checkpoint", Long.toString(child), "-o", image.toString());
        assertTrue(r.exit() != 0, r::describe);
        List<String> lines = r.stderrLines();
        System.out.println("[FdKindsTest] refused:\n" + String.join("\n", lines));
        for (long sharer : List.of(child, s.pids().get(2))) {
            String want = "cryo: task " + sharer + ": shares its fd table (CLONE_FILES) with task " + parent + ", which is outside the tree";
            assertTrue(lines.stream().anyMatch(l -> l.startsWith(want)), "a line '" + want + "...': " + r.describe());
        }
        assertTrue(lines.getLast().startsWith("cryo: checkpoint refused for the"), "a summary line last: " + r.describe());
        assertFalse(r.stderr().contains("Exception"), r::describe);
        assertFalse(Files.exists(image), "no image after a refused checkpoint");
        for (long p : s.pids()) Procfs.assertRunningUntraced(p, "task " + p + " after a refused checkpoint");
        assertCheck(s.proc(), "clonefiles", "after the refused checkpoint");
        s.proc().send("quit");
        assertEquals("BYE", s.proc().await("BYE", l -> l.equals("BYE")));
        assertEquals(0, s.proc().awaitExit(Timeouts.EXIT));
    }

    /**
     * Images whose fd_table fields or /proc descriptions restart could not honour, re-encoded from a good
     * image (TreeFixtures.rewrite), are refused with one line before anything is created.
     */
    @Test
    void badFdTablesAndProcFilesInTheImageAreRejected() {
        Started s = start("clonefiles");
        Path good = tmp.resolve("good.img");
        Cryo.checkpoint(cleanup, s.pids().getFirst(), good);
        s.proc().awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(s.pids(), Duration.ofSeconds(30));
        int root = s.pids().get(0).intValue(), child = s.pids().get(1).intValue(), grandchild = s.pids().get(2).intValue(),
                forked = s.pids().get(3).intValue();
        int nobody = (int) Procfs.freePid();
        while (s.pids().contains((long) nobody) || Procfs.exists(nobody)) nobody--;

        record Variant(String what, UnaryOperator<List<ImageRecord>> change, String hint) {}
        List<Variant> variants = List.of(
                new Variant("the root sharing a table", fdTable(root, child), "root"),
                new Variant("a table of a process not in the tree", fdTable(child, nobody), nobody + ""),
                new Variant("a table its parent does not use", fdTable(grandchild, forked), "parent " + child),
                new Variant("a sharer with fds of its own", fdTable(forked, root), "pid " + forked + " shares"),
                new Variant("a /proc file of a task not in the tree", rs -> rs.stream().map(r -> r instanceof OpenFileRecord o
                        && o.kind() == OpenFileRecord.Kind.PIPE_READ
                        ? (ImageRecord) new OpenFileRecord(o.objref(), OpenFileRecord.Kind.PROC, 0, 0, 0, 0, 0, "/proc/" + 9999999 + "/maps")
                        : r).toList(), "9999999"));
        int i = 0;
        for (Variant v : variants) {
            Path bad = tmp.resolve("bad-" + (i++) + ".img");
            TreeFixtures.rewrite(good, bad, v.change());
            String line = Cryo.restartExpectingFailure(cleanup, bad, root).assertOneLineError();
            System.out.println("[FdKindsTest] " + v.what() + ": " + line);
            assertTrue(line.contains(v.hint()), v.what() + ": the error names " + v.hint() + ": " + line);
            for (long p : s.pids()) assertFalse(Procfs.exists(p), v.what() + ": restart left pid " + p);
        }
    }

    /** Sets the fd_table of pid in the TREE. */
    private static UnaryOperator<List<ImageRecord>> fdTable(int pid, int table) {
        return rs -> rs.stream().map(r -> r instanceof Tree t ? (ImageRecord) TreeFixtures.with(t, "processes",
                t.processes().stream().map(p -> p.pid() == pid ? TreeFixtures.with(p, Map.of("fdTable", table)) : p).toList()) : r).toList();
    }
}
