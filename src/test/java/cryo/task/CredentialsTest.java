package cryo.task;

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
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
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

/**
 * Tasks of several users (src/test/c/creds.c): a root parent, a `nobody` child started with setpriv (with
 * lowered limits) and its child, a child with different real, effective, saved and fs uids and gids and
 * supplementary groups, a zombie of `nobody`, and one that kept some capabilities (ambient too) through a uid change, with a
 * smaller bounding set, securebits and no_new_privs. Root here lacks CAP_SYS_RESOURCE, so prlimit64 on
 * another user's task fails: cryo reads /proc/PID/limits. After restart every task has the same Uid, Gid,
 * Groups, capability and NoNewPrivs lines, the same limits and the same dumpable flag (the owner of its
 * /proc files).
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class CredentialsTest {
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
        Fixtures.assumeTool("setpriv");
    }

    private record Tree(Proc proc, List<Long> pids) {
    }

    private Tree start() throws IOException {
        // setpriv execs the fixture as nobody: the directory must let it in
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path exe = Fixtures.compile(tmp, "creds", Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc p = cleanup.start("creds", new ProcessBuilder(exe.toString()));
        String l = p.await("READY", s -> s.startsWith("READY ") || s.startsWith("FAIL"));
        assertTrue(l.startsWith("READY "), () -> "the fixture failed: " + l + "\n" + p.tails());
        List<Long> pids = new ArrayList<>();
        for (String f : l.substring(6).split(" ")) pids.add(Long.parseLong(f));
        assertEquals(p.pid(), pids.getFirst());
        subreaper.foreign(cleanup, pids.subList(1, pids.size()), t0, "creds child");
        return new Tree(p, pids);
    }

    /** What must come back, per pid. */
    private static Map<Long, List<String>> snapshot(List<Long> pids) {
        Map<Long, List<String>> m = new LinkedHashMap<>();
        for (long pid : pids) {
            List<String> lines = new ArrayList<>();
            for (String k : List.of("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")) {
                lines.add(k + ": " + Procfs.statusField(pid, k).orElse("?"));
            }
            if (Procfs.state(pid) == 'Z') {
                m.put(pid, lines);   // a zombie's limits are not saved (and cannot be seen but here)
                continue;
            }
            try {
                lines.add("owner of /proc/PID/status (dumpable): " + Files.getOwner(Path.of("/proc/" + pid + "/status")).getName());
                lines.addAll(List.of(Procfs.read(Path.of("/proc/" + pid + "/limits")).split("\n")));
            } catch (IOException e) {
                throw new AssertionError(e);
            }
            m.put(pid, lines);
        }
        return m;
    }

    @Test
    void everyTaskComesBackWithItsCredentialsAndLimits() throws IOException {
        Tree t = start();
        Map<Long, List<String>> before = snapshot(t.pids());
        assertTrue(before.get(t.pids().get(1)).getFirst().startsWith("Uid: 65534"), () -> "nobody: " + before);
        assertEquals("Uid: 2001\t2002\t2003\t2003", before.get(t.pids().get(3)).getFirst(), "mixed uids");
        assertEquals('Z', Procfs.state(t.pids().get(5)), "the zombie");
        assertTrue(before.get(t.pids().get(5)).getFirst().startsWith("Uid: 65534"), () -> "nobody's zombie: " + before);
        Path image = tmp.resolve("creds.img");
        Cryo.checkpoint(cleanup, t.proc().pid(), image);
        t.proc().awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(t.pids(), Duration.ofSeconds(30));
        Instant t0 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, t.proc().pid());
        subreaper.foreign(cleanup, t.pids(), t0, "restored creds task");
        for (long pid : t.pids()) {
            if (pid == t.pids().get(5)) Procfs.awaitState(pid, 'Z', Timeouts.CRYO);
            else awaitReleased(pid, rest);
        }
        assertEquals(before, snapshot(t.pids()), "credentials, limits and dumpable flag after restart");
        rest.send("quit");
        String bye = rest.await("BYE", s -> s.startsWith("BYE "));
        assertEquals("BYE 0", bye, "the root killed and reaped its children");
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }

    /** A hard limit above the restoring cryo's own cannot be given back without CAP_SYS_RESOURCE: one line, nothing created. */
    @Test
    void aHardLimitAboveCryosOwnFailsThePreflight() throws IOException {
        Fixtures.assumeTool("prlimit");
        Tree t = start();
        Path image = tmp.resolve("creds.img");
        Cryo.checkpoint(cleanup, t.proc().pid(), image);
        t.proc().awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(t.pids(), Duration.ofSeconds(30));
        boolean mayRaise = Procfs.statusField(ProcessHandle.current().pid(), "CapEff").map(c -> (Long.parseUnsignedLong(c, 16) & (1L << 24)) != 0).orElse(false);
        org.junit.jupiter.api.Assumptions.assumeFalse(mayRaise, "cryo has CAP_SYS_RESOURCE here: any hard limit can be restored");
        // the root's RLIMIT_FSIZE hard limit is unlimited; this cryo's is 1 GiB
        Cryo.Result r = Cryo.run(cleanup, Map.of(), List.of("prlimit", "--fsize=1073741824:1073741824"), null, "restart", image.toString());
        String line = r.assertOneLineError();
        assertTrue(line.contains("task " + t.proc().pid() + ": RLIMIT_FSIZE hard limit unlimited is above cryo's own (1073741824)")
                && line.contains("CAP_SYS_RESOURCE"), line);
        for (long pid : t.pids()) assertTrue(!Procfs.exists(pid), "pid " + pid + " was not created");
    }

    /** An image whose TASK has an effective set outside its permitted set is refused, naming the field. */
    @Test
    void capabilitiesThatCannotBeAreABadImage() throws IOException {
        Tree t = start();
        Path image = tmp.resolve("creds.img"), bad = tmp.resolve("bad.img");
        Cryo.checkpoint(cleanup, t.proc().pid(), image);
        t.proc().awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(t.pids(), Duration.ofSeconds(30));
        long victim = t.pids().get(2);
        TreeFixtures.rewrite(image, bad, rs -> rs.stream().map(r -> r instanceof TaskRecord task && task.pid() == victim
                ? (cryo.image.ImageRecord) TreeFixtures.with(task, Map.of("caps", new long[] {0, 0, 1L << 21, task.caps()[3], 0})) : r).toList());
        String line = Cryo.restartExpectingFailure(cleanup, bad, t.proc().pid()).assertOneLineError();
        assertTrue(line.contains("TASK") && line.contains("caps") && line.contains("effective set is not within the permitted set"), line);
        for (long pid : t.pids()) assertTrue(!Procfs.exists(pid), "pid " + pid + " was not created");
    }

    /** Credentials are per thread: a thread that changed its own uids (raw setresuid) is refused at checkpoint. */
    @Test
    void aThreadWithOtherCredentialsIsRefused() {
        Path py = Fixtures.python();
        Proc p = cleanup.start("thread-creds", new ProcessBuilder(py.toString(), "-c", """
                import ctypes, os, sys, threading
                libc = ctypes.CDLL(None, use_errno=True)
                done = threading.Event()
                def worker():
                    if libc.syscall(117, 65534, 65534, 65534) != 0:   # SYS_setresuid, this thread only
                        os.write(1, b"FAIL setresuid\\n")
                    done.set()
                    threading.Event().wait()
                threading.Thread(target=worker, daemon=True).start()
                done.wait()
                os.write(1, b"READY %d\\n" % os.getpid())
                sys.stdin.read()
                """));
        assertEquals(p.pid(), p.awaitReady());
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(p.pid()), "-o", tmp.resolve("t.img").toString()).assertOneLineError();
        assertTrue(line.contains("task " + p.pid()) && line.contains("other credentials than its leader") && line.contains("Uid"), line);
        Procfs.assertRunningUntraced(p.pid(), "the process");
        p.closeStdin();
        assertEquals(0, p.awaitExit(Timeouts.EXIT));
    }

    private static void awaitReleased(long pid, Proc rest) {
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (!(Procfs.alive(pid) && Procfs.tracerPid(pid) == 0)) {
            if (!rest.isAlive()) throw new AssertionError("cryo restart exited before pid " + pid + " ran:\n" + rest.tails());
            if (System.nanoTime() > deadline) throw new AssertionError("pid " + pid + " was not restored in time:\n" + rest.tails());
            Procfs.sleep(Duration.ofMillis(10));
        }
        Procfs.assertRunningUntraced(pid, "restored task " + pid);
    }
}
