package cryo.container;

import cryo.remote.Tracee;
import cryo.restart.Stub;
import cryo.sys.Errno;
import cryo.sys.Fd;
import cryo.sys.Nr;
import cryo.sys.Proc;
import cryo.sys.Ptrace;
import cryo.sys.Spawn;
import cryo.sys.SysException;
import cryo.sys.Wait;
import cryo.sys.WaitStatus;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cryo run: a command as pid 1 of new namespaces, made the way restart makes a task. cryo's stub is spawned
 * and seized; a remote clone3 in it creates the container's init in new pid, mount, UTS, IPC (and network)
 * namespaces with CLONE_PARENT, so that cryo, not the stub, is its parent (and when cryo exits, the init is
 * reparented to the nearest subreaper or to pid 1, which reap it). The stub is killed at once. The init,
 * auto-attached, sets its namespaces up by remote syscalls (Setup) and execs the command (Exec); until then
 * any failure kills it and its namespaces go with it (PTRACE_O_EXITKILL covers cryo dying).
 */
public final class Run {
    private static final long CLONE_PARENT = 0x8000, CLONE_NEWNS = 0x20000, CLONE_NEWUTS = 0x04000000,
            CLONE_NEWIPC = 0x08000000, CLONE_NEWPID = 0x20000000, CLONE_NEWNET = 0x40000000;
    private static final int CLONE_ARGS_SIZE = 88, RLIMIT_NOFILE = 7;
    private static final String CALLER_NOFILE = "CRYO_CALLER_NOFILE";
    private static final int PROT_RW = 3, MAP_PRIVATE_ANON = 0x22;

    private Run() {
    }

    /** Starts the container; with -d prints its init's pid, else waits for it and returns its shell-style status. */
    public static int run(RunOptions o, PrintStream out) throws SysException, IOException, ExecFailure {
        int init = start(o);
        if (o.detach()) {
            out.println(init);
            return 0;
        }
        WaitStatus st = Wait.blocking(init);
        return st.exited() ? st.exitCode() : 128 + st.termSignal();
    }

    /** Starts the container; returns its init's host pid, running the command, no longer traced. */
    static int start(RunOptions o) throws SysException, IOException, ExecFailure {
        java.util.Map<String, String> env = new java.util.HashMap<>(System.getenv());
        String nofile = env.remove(CALLER_NOFILE);
        Exec exec = new Exec(o.command(), env);
        long scratchSize = exec.scratchSize() + 2 * 4096;   // Setup's strings go above its first page
        // -d: CMD's stdin, stdout and stderr are /dev/null, or `P=$(cryo run -d ...)` would wait for the container
        // to close the pipe; opened on the host, since a --root tree may have no /dev.
        int devNull = o.detach() ? Fd.open("/dev/null", Fd.O_RDWR) : -1;
        int stubPid;
        try {
            stubPid = devNull < 0 ? spawnStub() : spawnStub(devNull);
        } finally {
            if (devNull >= 0) Fd.close(devNull);
        }
        int init = -1;
        boolean ok = false;
        try {
            Tracee stub = Tracee.seize(stubPid, Ptrace.O_TRACESYSGOOD | Ptrace.O_TRACECLONE | Ptrace.O_EXITKILL);
            Ptrace.setSigmask(stubPid, ~0L);
            stub.useSyscallAt(Stub.SYSCALL_INSN);
            long scratch = stub.syscall("mmap(scratch)", Nr.MMAP, 0, scratchSize, PROT_RW, MAP_PRIVATE_ANON, -1, 0);
            stub.useScratch(scratch, scratchSize);
            init = cloneInit(stub, o);
            // auto-attached (a clone3 with exit_signal 0 is a PTRACE_EVENT_CLONE), with the stub's memory copied
            Tracee t = Tracee.adopt(init);
            t.useSyscallAt(Stub.SYSCALL_INSN);
            t.useScratch(scratch, scratchSize);
            kill(stubPid);
            stubPid = -1;
            callersOpenFilesLimit(init, nofile);
            // before Setup closes every fd above 2, the stub's copy of /dev/null with them
            for (int fd = 0; fd <= 2 && devNull >= 0; fd++) t.syscall("dup3(/dev/null, " + fd + ")", Nr.DUP3, devNull, fd, 0);
            new Setup(t).apply(o);
            exec.run(t);
            Ptrace.setSigmask(init, 0);
            Ptrace.detach(init, 0);
            ok = true;
            return init;
        } finally {
            if (stubPid != -1) kill(stubPid);
            if (!ok && init != -1) kill(init);
        }
    }

    /**
     * The JVM raised its soft RLIMIT_NOFILE to the hard limit at start-up (its MaxFDLimit): the command gets the
     * caller's soft limit back, which bin/cryo passes in CRYO_CALLER_NOFILE ("unlimited" or a number).
     */
    private static void callersOpenFilesLimit(int init, String soft) throws SysException {
        if (soft == null || !soft.strip().matches("unlimited|[0-9]{1,18}")) return;
        long[] lim = Proc.getRlimit(init, RLIMIT_NOFILE);
        long want = soft.strip().equals("unlimited") ? -1L : Long.parseLong(soft.strip());
        if (Long.compareUnsigned(want, lim[1]) <= 0) Proc.setRlimit(init, RLIMIT_NOFILE, want, lim[1]);
    }

    /** The stub from a memfd, with no fd passed on: whatever of the JVM's it inherits, Setup closes. */
    private static int spawnStub(int... inherit) throws SysException {
        int memfd = Fd.memfd("cryo-stub");
        try (Arena a = Arena.ofConfined()) {
            Fd.writeFully(memfd, a.allocateFrom(ValueLayout.JAVA_BYTE, Stub.elf()), "stub");
            return Spawn.spawn("/proc/self/fd/" + memfd, new String[]{"cryo-stub"}, inherit);
        } finally {
            Fd.close(memfd);
        }
    }

    private static int cloneInit(Tracee stub, RunOptions o) throws SysException {
        long flags = CLONE_PARENT | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | (o.net() ? CLONE_NEWNET : 0);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment args = a.allocate(CLONE_ARGS_SIZE, 8);
            args.set(JAVA_LONG, 0, flags);   // exit_signal 0: with CLONE_PARENT the child takes the stub's, SIGCHLD
            long r = stub.call(Nr.CLONE3, null, stub.put(0, args), CLONE_ARGS_SIZE);
            if (r < 0) throw new SysException("run: clone3 of the container's init in new " + (o.net() ? "pid, mount, UTS, IPC and network" : "pid, mount, UTS and IPC") + " namespaces", (int) -r);
            return (int) r;
        }
    }

    /** Kills a task cryo made (its child, traced) and reaps it; best effort, on the way out of a failure too. */
    private static void kill(int pid) {
        try {
            Proc.kill(pid, Proc.SIGKILL);
            while (!Wait.waitFor(pid, Tracee.WAIT_MS).gone()) {
                // a ptrace stop before the death: wait on
            }
        } catch (SysException e) {
            // ESRCH/ECHILD: gone already; anything else cannot be helped here
        }
    }
}
