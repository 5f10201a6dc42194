package cryo.janitor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * `cryo restart` killed (CRYO_KILL_AT: cryo SIGKILLs itself at a named moment) at each distinct moment of a
 * restart of src/test/c/kill_restart.c: two processes, a SysV shm segment, semaphore set and message queue in
 * the host IPC namespace, a ghost file with a name, and a TCP listener (a held network lock in the image).
 * Before the commit, nothing may be left once the janitor ran: no process of the tree, no stub, no IPC object,
 * no recreated ghost file, no lock table, no journal, no janitor, no lazy page server. Killed after the commit,
 * the whole tree runs with its objects. Then a restart of the same image works.
 */
@Timeout(value = 20, unit = TimeUnit.MINUTES)
class KilledRestartTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    /** What the janitor is given to finish (it starts a JVM): the bound of every wait for "nothing left". */
    private static final Duration SWEEP = Duration.ofSeconds(60);

    private record Made(Path image, long root, long child, int shm, int sem, int msg, String table, Path ghost) {
    }

    private Made made;

    @AfterEach
    void removeObjects() {
        if (made == null) return;
        removeIpc(made);
        if (made.table() != null) nft("delete", "table", "inet", made.table());
    }

    @Test
    void restartKilledAtAnyMomentLeavesNothingAndTheImageRestartsAfter() throws IOException {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("nft");
        made = make();
        List<String> failures = new ArrayList<>();
        String[][] points = {
                {"restart-stub-spawned", "-d"},
                {"restart-ipc-object", "-d"},
                {"restart-ipc-object#3", "-d"},
                {"restart-ghost-named", "-d"},
                {"restart-memory", "-d"},
                {"restart-tasks-created", "-d"},
                {"restart-before-lift", "-d"},
                {"restart-after-lift", "-d"},
                {"restart-detached", "-d"},
                {"restart-detached", "fg"},
                {"restart-detached", "stdin"},
                {"restart-lazy-handover", "--lazy -d"},
                {"restart-detached", "--lazy -d"},
                {"restart-lazy-serving", "--lazy"},
                {"restart-committed", "-d"},
                {"restart-committed", "fg"},
        };
        for (String[] p : points) {
            String what = p[0] + " (" + p[1] + ")";
            holdLock(made);
            Instant t0 = Instant.now();
            subreaper.foreign(cleanup, List.of(made.root(), made.child()), t0, "restored process");
            Proc cryo = startRestart(made, p[1], p[0]);
            int status = cryo.awaitExit(Timeouts.CRYO);
            if (status != 137) {
                failures.add(what + ": cryo was not killed there (exit " + status + "): " + cryo.tails());
            } else {
                boolean committed = p[0].equals("restart-committed");
                String left = awaitLeft(made, cryo.pid(), committed);
                if (!left.isEmpty()) failures.add(what + ": " + left + "; cryo and its janitor said: " + cryo.tails());
            }
            restore(made);
        }
        assertTrue(failures.isEmpty(), "killed restarts left something:\n" + String.join("\n", failures));

        // the image is intact and nothing blocks its restart
        holdLock(made);
        long root = Cryo.detached(cleanup, "restart", "-d", made.image().toString());
        subreaper.foreign(cleanup, List.of(made.child()), Instant.now().minusSeconds(5), "restored child");
        assertEquals(made.root(), root, "restart -d printed the root's pid");
        Procfs.assertRunningUntraced(made.root(), "the restored root");
        Procfs.assertRunningUntraced(made.child(), "the restored child");
        assertEquals(List.of(true, true, true), List.of(exists("shm", made.shm()), exists("sem", made.sem()), exists("msg", made.msg())),
                "the restored tree's shm, sem and msg exist");
        assertTrue(!tableExists(made.table()), "the restart lifted the lock");
        restore(made);
    }

    /** The fixture under `sh -c '... & wait'`, checkpointed (kill mode) with its queue and set; originals removed. */
    private Made make() throws IOException {
        Path exe = Fixtures.compile(tmp, "kill_restart", Fixtures.Build.PIE);
        Path dir = Files.createDirectories(tmp.resolve("ghosts"));
        Proc sh = cleanup.start("fixture", new ProcessBuilder("sh", "-c", "'" + exe + "' '" + dir + "' & wait"));
        String ready = sh.await("READY", l -> l.startsWith("READY "));
        Matcher m = Pattern.compile("READY shm=([0-9]+) sem=([0-9]+) msg=([0-9]+) port=[0-9]+ child=([0-9]+)").matcher(ready);
        assertTrue(m.matches(), ready);
        long child = Long.parseLong(m.group(4)), root = Procfs.ppid(child);
        int shm = Integer.parseInt(m.group(1)), sem = Integer.parseInt(m.group(2)), msg = Integer.parseInt(m.group(3));
        made = new Made(tmp.resolve("kr.img"), root, child, shm, sem, msg, null, dir.resolve("ghost"));
        subreaper.foreign(cleanup, List.of(root, child), Instant.now().minusSeconds(5), "fixture process");
        Cryo.checkpoint(cleanup, root, made.image(), "--ipc", "msg:" + msg + ",sem:" + sem);
        Procfs.awaitGone(root, Timeouts.EXIT);
        Procfs.awaitGone(child, Timeouts.EXIT);
        removeIpc(made);
        Matcher t = Pattern.compile("table=(cryo-lock-[0-9-]+)").matcher(Cryo.run(cleanup, "show", made.image().toString()).assertOk().stdout());
        assertTrue(t.find(), "the image holds a network lock");
        made = new Made(made.image(), root, child, shm, sem, msg, t.group(1), made.ghost());
        return made;
    }

    private Proc startRestart(Made m, String mode, String point) {
        List<String> args = new ArrayList<>(List.of("restart"));
        if (mode.contains("--lazy")) args.add("--lazy");
        if (mode.contains("-d") || mode.equals("stdin")) args.add("-d");
        args.add(mode.equals("stdin") ? "-" : m.image().toString());
        ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), args.toArray(String[]::new))).directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of("CRYO_KILL_AT", point));
        if (mode.equals("stdin")) pb.redirectInput(m.image().toFile());
        return cleanup.start("restart", pb);
    }

    /**
     * Waits (at most SWEEP) until nothing is left of a restart killed before its commit, or, committed, until
     * only the running tree with its IPC objects is; returns what is wrong then ("" when nothing).
     */
    private String awaitLeft(Made m, long cryo, boolean committed) throws IOException {
        long deadline = System.nanoTime() + SWEEP.toNanos();
        while (true) {
            List<String> left = new ArrayList<>();
            boolean root = Procfs.alive(m.root()), child = Procfs.alive(m.child());
            boolean shm = exists("shm", m.shm()), sem = exists("sem", m.sem()), msg = exists("msg", m.msg());
            if (committed) {
                if (!(root && child && shm && sem && msg)) left.add("a committed tree is not whole: root " + root + ", child " + child + ", shm " + shm + ", sem " + sem + ", msg " + msg);
            } else {
                if (root) left.add("the root " + m.root());
                if (child) left.add("the child " + m.child());
                if (shm) left.add("shm " + m.shm());
                if (sem) left.add("sem " + m.sem());
                if (msg) left.add("msg " + m.msg());
                if (tableExists(m.table())) left.add("the lock table " + m.table());
            }
            if (Files.exists(m.ghost(), java.nio.file.LinkOption.NOFOLLOW_LINKS)) left.add("the ghost file " + m.ghost());
            String journal = journalOf(cryo);
            if (journal != null) left.add("the journal " + journal + ": " + readGone(Path.of(journal)).replace('\n', '|'));
            for (long p : processesMatching(cryo)) left.add("process " + p + ": " + cmdline(p));
            if (left.isEmpty()) return "";
            if (System.nanoTime() > deadline) return String.join("; ", left);
            Procfs.sleep(Duration.ofMillis(50));
        }
    }

    /** A file's text, or "(gone)" when it went meanwhile. */
    private static String readGone(Path p) throws IOException {
        try {
            return Files.readString(p);
        } catch (NoSuchFileException e) {
            return "(gone)";
        }
    }

    /** Kills what a trial left running (the tree of a committed restart, or a leftover) and removes its objects. */
    private void restore(Made m) {
        for (long p : List.of(m.root(), m.child())) ProcessHandle.of(p).ifPresent(ProcessHandle::destroyForcibly);
        Procfs.awaitGone(m.root(), Timeouts.EXIT);
        Procfs.awaitGone(m.child(), Timeouts.EXIT);
        removeIpc(m);
        try {
            Files.deleteIfExists(m.ghost());
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /** The image's held lock table, as its checkpoint left it (each trial has one to lift). */
    private static void holdLock(Made m) {
        if (tableExists(m.table())) return;
        nft("add", "table", "inet", m.table());
        nft("add", "chain", "inet", m.table(), "held");
    }

    private static void removeIpc(Made m) {
        for (String[] k : new String[][]{{"-m", "" + m.shm(), "shm"}, {"-s", "" + m.sem(), "sem"}, {"-q", "" + m.msg(), "msg"}}) {
            if (exists(k[2], Integer.parseInt(k[1]))) run("ipcrm", k[0], k[1]);
        }
    }

    /** Whether an object of kind (shm, sem, msg) with this id exists in the JVM's IPC namespace. */
    private static boolean exists(String kind, int id) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/sysvipc/" + kind)).stream().skip(1).toList()) {
                String[] w = line.trim().split("\\s+");
                if (w.length > 1 && w[1].equals(Integer.toString(id))) return true;
            }
            return false;
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static boolean tableExists(String table) {
        return run("nft", "list", "tables", "inet").lines().anyMatch(l -> l.equals("table inet " + table));
    }

    private static void nft(String... args) {
        List<String> cmd = new ArrayList<>(List.of("nft"));
        cmd.addAll(List.of(args));
        run(cmd.toArray(String[]::new));
    }

    /** /run/cryo/journal/PID-* of cryo process pid, or null. */
    private static String journalOf(long pid) throws IOException {
        try (DirectoryStream<Path> d = Files.newDirectoryStream(Path.of("/run/cryo/journal"), pid + "-*")) {
            for (Path p : d) return p.toString();
        } catch (NoSuchFileException e) {
            return null;
        }
        return null;
    }

    /**
     * Live processes that belong to the killed cryo pid: its janitor (`__sweep PID-...`), its lazy page server
     * (`__lazy-server FD PID`), and any stub (`cryo-stub`, adopted by this JVM, the subreaper).
     */
    private static List<Long> processesMatching(long cryo) {
        long self = ProcessHandle.current().pid();
        List<Long> out = new ArrayList<>();
        try (DirectoryStream<Path> d = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
            for (Path p : d) {
                long pid = Long.parseLong(p.getFileName().toString());
                if (!Procfs.alive(pid)) continue;
                String cmd = cmdline(pid);
                boolean stub = Procfs.stat(pid).map(s -> s.comm().equals("cryo-stub") && s.ppid() == self).orElse(false);
                if (stub || cmd.contains("__sweep " + cryo + "-") || cmd.matches(".*__lazy-server [0-9]+ " + cryo + "( .*)?")) out.add(pid);
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return out;
    }

    private static String cmdline(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline")), StandardCharsets.UTF_8).replace('\0', ' ').trim();
        } catch (IOException e) {
            return "";
        }
    }

    private static String run(String... cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("took too long: " + List.of(cmd));
            }
            return out;
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
