package cryo.restart;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.files.FdBroker;
import cryo.remote.Scratch;
import cryo.remote.Tracee;
import cryo.sys.Nr;
import cryo.sys.Proc;
import cryo.sys.Ptrace;
import cryo.sys.SysException;
import cryo.sys.Wait;
import cryo.sys.WaitStatus;
import cryo.testing.Fixtures;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The stub's init routine on its own: an init cloned from the stub into new pid and mount namespaces, a root
 * cloned from the init that execs {@code sh -c SCRIPT}, the routine started. The init reaps orphans, passes
 * SIGHUP, SIGINT and SIGTERM on to the root and exits as the root did; its exit ends the namespace.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class PidNsInitTest {
    private static final int SIGHUP = 1, SIGINT = 2, SIGUSR1 = 10, SIGTERM = 15;

    @TempDir
    Path tmp;

    /** Host pids this test made (stub, init): killed and reaped after each test, whatever happened. */
    private final List<Integer> made = new ArrayList<>();

    @AfterEach
    void killMade() throws SysException {
        for (int pid : made.reversed()) {
            try {
                Proc.kill(pid, Proc.SIGKILL);
            } catch (SysException e) {
                // gone already
            }
            try {
                while (!Wait.waitFor(pid, Timeouts.EXIT.toMillis()).gone()) {
                    // a stop reported before the death
                }
            } catch (SysException e) {
                // reaped already
            }
        }
    }

    /** The namespace: its init (host pid), the root's pid inside and on the host. */
    private record Namespace(int init, int root, int rootHost) {
    }

    /** Builds init and root from a stub; the root execs sh -c script; the init runs its routine. */
    private Namespace start(String script) throws Exception {
        Fixtures.assumeRoot();
        try (FdBroker broker = new FdBroker(3)) {
            int stubPid = Stub.spawn(broker);
            made.add(stubPid);
            Tracee stub = Tracee.seize(stubPid, Ptrace.O_TRACESYSGOOD | Ptrace.O_TRACECLONE | Ptrace.O_TRACEFORK
                    | Ptrace.O_TRACEVFORK | Ptrace.O_EXITKILL);
            Ptrace.setSigmask(stubPid, ~0L);
            stub.useSyscallAt(Stub.SYSCALL_INSN);
            long scratch = stub.syscall("mmap(scratch)", Nr.MMAP, 0, Scratch.SIZE, 3, 0x22, -1, 0);
            stub.useScratch(scratch, Scratch.SIZE);
            // SIGCHLD ignored, as a cryo started with it ignored passes it on: the init must not inherit it
            try (Arena a = Arena.ofConfined()) {
                MemorySegment ign = a.allocate(32);
                ign.set(JAVA_LONG, 0, 1);                     // SIG_IGN
                stub.syscall("rt_sigaction(SIGCHLD, SIG_IGN)", Nr.RT_SIGACTION, Proc.SIGCHLD, stub.put(0, ign), 0, 8);
            }

            Tracee init = PidNamespaceInit.create(stub);
            made.add(init.tid);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment args = a.allocate(88);
                args.set(JAVA_LONG, 32, Proc.SIGCHLD);        // exit_signal
                init.put(0, args);
            }
            int root = (int) init.syscall("clone3(root)", Nr.CLONE3, init.scratch(), 88);
            int rootHost = (int) init.lastChild();
            Tracee r = Tracee.adopt(rootHost);
            r.useSyscallAt(Stub.SYSCALL_INSN);
            r.useScratch(scratch, Scratch.SIZE);
            exec(r, script);
            PidNamespaceInit.start(init, root, scratch, Scratch.SIZE);
            Ptrace.detach(rootHost, 0);
            Proc.kill(stubPid, Proc.SIGKILL);
            assertTrue(Wait.waitFor(stubPid, Timeouts.EXIT.toMillis()).gone());
            made.remove((Integer) stubPid);
            return new Namespace(init.tid, root, rootHost);
        }
    }

    /**
     * Makes t exec /bin/sh -c script with default signal dispositions (cryo's may ignore some, which a shell
     * could not trap), no fd above 2 and an empty mask; it stays stopped.
     */
    private static void exec(Tracee t, String script) throws SysException, IOException {
        try (var s = Files.list(Path.of("/proc/" + t.tid + "/fd"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                int fd = Integer.parseInt(p.getFileName().toString());
                if (fd > 2) t.call(Nr.CLOSE, null, fd);
            }
        }
        try (Arena a = Arena.ofConfined()) {
            long dfl = t.put(0, a.allocate(32));
            for (int sig = 1; sig < 32; sig++) {
                if (sig != Proc.SIGKILL && sig != Proc.SIGSTOP) t.syscall("rt_sigaction(" + sig + ")", Nr.RT_SIGACTION, sig, dfl, 0, 8);
            }
            long at = 1024;
            String[] words = {"/bin/sh", "sh", "-c", script, "PATH=/usr/bin:/bin"};
            long[] addr = new long[words.length];
            for (int i = 0; i < words.length; i++) {
                addr[i] = t.putString(at, words[i]);
                at += words[i].length() + 1;
            }
            MemorySegment vec = a.allocate(8 * 6);
            vec.set(JAVA_LONG, 0, addr[1]);
            vec.set(JAVA_LONG, 8, addr[2]);
            vec.set(JAVA_LONG, 16, addr[3]);
            vec.set(JAVA_LONG, 24, 0);
            vec.set(JAVA_LONG, 32, addr[4]);
            vec.set(JAVA_LONG, 40, 0);
            long v = t.put(64, vec);
            t.syscall("execve(/bin/sh)", 59, addr[0], v, v + 32);
        }
        Ptrace.setSigmask(t.tid, 0);
    }

    private static List<String> lines(Path log) {
        try {
            return Files.exists(log) ? Files.readAllLines(log) : List.of();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static void awaitLine(Path log, String line) {
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (!lines(log).contains(line)) {
            if (System.nanoTime() > deadline) throw new AssertionError("no line '" + line + "' in " + lines(log));
            Procfs.sleep(Duration.ofMillis(10));
        }
    }

    private static List<Integer> children(int pid) {
        try {
            String s = Files.readString(Path.of("/proc/" + pid + "/task/" + pid + "/children")).trim();
            return s.isEmpty() ? List.of() : Arrays.stream(s.split(" ")).map(Integer::parseInt).toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    private static long procMounts() throws IOException {
        return Files.readAllLines(Path.of("/proc/self/mountinfo")).stream().filter(l -> l.split(" ")[4].equals("/proc")).count();
    }

    private static int waitExit(int init) throws SysException {
        WaitStatus st;
        do {
            st = Wait.waitFor(init, Timeouts.EXIT.toMillis());
        } while (!st.gone());
        return st.exited() ? st.exitCode() : 1000 + st.termSignal();
    }

    @Test
    void theInitReapsOrphansPassesSignalsOnAndExitsWithTheRootsCode() throws Exception {
        long mountsBefore = procMounts();
        Path log = tmp.resolve("log");
        Namespace ns = start("exec >" + log + " 2>&1 </dev/null\n"
                + "trap 'echo HUP' HUP; trap 'echo INT' INT; trap 'exit 7' TERM\n"
                + "(sleep 1000 &)\n"
                + "echo \"pid $$ $(cat /proc/1/comm)\"\n"
                + "sleep 1001 & s=$!\n"
                + "echo ready\n"
                + "while :; do wait $s; done\n");
        awaitLine(log, "ready");
        assertEquals("pid " + ns.root() + " cryo-init", lines(log).getFirst(), "the root's own pid, and the init at /proc/1");
        assertEquals(mountsBefore, procMounts(), "the new /proc stays in the init's mount namespace");
        Procfs.assertRunningUntraced(ns.init(), "the init");

        // the subshell's sleep is an orphan of the init: killed, it is reaped, not left a zombie
        int orphan = -1;
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (orphan < 0) {
            for (int c : children(ns.init())) if (c != ns.rootHost() && Procfs.stat(c).map(s -> s.comm().equals("sleep")).orElse(false)) orphan = c;
            if (System.nanoTime() > deadline) throw new AssertionError("no orphan under the init: " + children(ns.init()));
            Procfs.sleep(Duration.ofMillis(10));
        }
        Proc.kill(orphan, Proc.SIGKILL);
        Procfs.awaitGone(orphan, Timeouts.EXIT);

        Proc.kill(ns.init(), SIGHUP);
        awaitLine(log, "HUP");
        Proc.kill(ns.init(), SIGINT);
        awaitLine(log, "INT");
        List<Integer> inside = new ArrayList<>(children(ns.rootHost()));
        assertFalse(inside.isEmpty(), "the root's sleep");
        Proc.kill(ns.init(), SIGTERM);
        assertEquals(7, waitExit(ns.init()), "the init exits with the root's exit code");
        made.remove((Integer) ns.init());
        inside.add(ns.rootHost());
        for (int p : inside) assertFalse(Procfs.exists(p), "the namespace ended with its init: " + p);
        assertEquals(mountsBefore, procMounts());
    }

    @Test
    void aRootKilledBySignalMakesTheInitExitWith128PlusIt() throws Exception {
        Path log = tmp.resolve("log");
        Namespace ns = start("exec >" + log + " 2>&1 </dev/null\necho ready\nexec sleep 1002\n");
        awaitLine(log, "ready");
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (!Procfs.stat(ns.rootHost()).map(s -> s.comm().equals("sleep")).orElse(false)) {
            if (System.nanoTime() > deadline) throw new AssertionError("the root did not exec sleep");
            Procfs.sleep(Duration.ofMillis(10));
        }
        Proc.kill(ns.rootHost(), SIGUSR1);
        assertEquals(128 + SIGUSR1, waitExit(ns.init()), "the init exits as cryo reports a killed root: 128 + signal");
        made.remove((Integer) ns.init());
        assertFalse(Procfs.exists(ns.rootHost()));
    }
}
