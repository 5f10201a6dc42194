package cryo.task;

import cryo.image.ImageException;
import cryo.image.Refusal;
import cryo.sys.ProcFile;
import cryo.remote.Tracee;
import cryo.sys.Nr;
import cryo.sys.Proc;
import cryo.sys.Ptrace;
import cryo.sys.Regs;
import cryo.remote.SyscallRestart;
import cryo.sys.SysException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Process and thread state other than memory and files: both halves side by side. What /proc does not show
 * (signal handlers, sigaltstack, clear_child_tid, itimers, pdeath signal) is read by remote syscalls.
 */
public final class TaskState {
    private static final int PR_SET_PDEATHSIG = 1, PR_GET_PDEATHSIG = 2, PR_SET_NAME = 15, PR_SET_CHILD_SUBREAPER = 36,
            PR_GET_CHILD_SUBREAPER = 37, PR_GET_TID_ADDRESS = 40;
    private static final int SIGKILL = 9, SIGSTOP = 19, SIGALRM = 14, ITIMER_REAL = 0;
    // Scratch layout while checkpointing: all results land here and come back in one process_vm_readv.
    private static final int SC_SIGACTIONS = 0, SC_ALTSTACK = 2048, SC_TIDADDR = 2080, SC_PDEATH = 2088, SC_ITIMERS = 2096,
            SC_SUBREAPER = 2192, SC_END = 2200;

    private TaskState() {
    }

    // ---------------------------------------------------------------- checkpoint

    /** Process-wide state of a stopped process whose leader is t (scratch memory set up). */
    public static TaskRecord checkpointTask(Tracee t, ProcStat stat) throws Refusal, SysException, IOException {
        int pid = t.tid;
        Credentials.checkThreads(pid, stat);
        for (int sig = 1; sig <= TaskRecord.NSIG; sig++) {
            t.syscall("rt_sigaction(" + sig + ")", Nr.RT_SIGACTION, sig, 0, t.scratch() + SC_SIGACTIONS + 32L * (sig - 1), 8);
        }
        t.syscall("prctl(PR_GET_PDEATHSIG)", Nr.PRCTL, PR_GET_PDEATHSIG, t.scratch() + SC_PDEATH);
        t.syscall("prctl(PR_GET_CHILD_SUBREAPER)", Nr.PRCTL, PR_GET_CHILD_SUBREAPER, t.scratch() + SC_SUBREAPER);
        for (int which = 0; which < 3; which++) {
            t.syscall("getitimer(" + which + ")", Nr.GETITIMER, which, t.scratch() + SC_ITIMERS + 32L * which);
        }
        int securebits = Credentials.securebits(t), dumpable = Credentials.dumpable(t);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = t.get(t.scratch(), SC_END, a);
            long[] sigactions = s.asSlice(SC_SIGACTIONS, 32L * TaskRecord.NSIG).toArray(JAVA_LONG);
            long[] itimers = s.asSlice(SC_ITIMERS, 96).toArray(JAVA_LONG);
            String cwd = Files.readSymbolicLink(Path.of("/proc/" + pid + "/cwd")).toString();
            String comm = ProcFile.read("/proc/" + pid + "/comm").strip();
            int personality = (int) Long.parseLong(ProcFile.read("/proc/" + pid + "/personality").strip(), 16);
            int[] groups = stat.statusInts("Groups");
            return new TaskRecord(pid, comm, Integer.parseInt(stat.status("Umask"), 8), personality,
                    s.get(JAVA_INT, SC_PDEATH), cwd, stat.statusInts("Uid"), stat.statusInts("Gid"), groups, Rlimits.read(pid),
                    sigactions, Ptrace.peekSiginfo(pid, true), itimers, Credentials.caps(stat), securebits,
                    stat.status("NoNewPrivs").equals("1"), dumpable, Terminal.wasForeground(stat),
                    s.get(JAVA_INT, SC_SUBREAPER) != 0, GroupLeaders.ownsGoneSession(stat));
        }
    }

    /** One stopped thread's registers and signal state; sigmask is the mask it had before cryo blocked all. */
    public static ThreadRecord checkpointThread(Tracee t, int pid, long sigmask) throws SysException {
        int tid = t.tid;
        t.syscall("sigaltstack", Nr.SIGALTSTACK, 0, t.scratch() + SC_ALTSTACK);
        t.syscall("prctl(PR_GET_TID_ADDRESS)", Nr.PRCTL, PR_GET_TID_ADDRESS, t.scratch() + SC_TIDADDR);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = t.get(t.scratch() + SC_ALTSTACK, 40, a);
            long[] robust = Proc.getRobustList(tid);
            Ptrace.RseqConfig rseq = Ptrace.rseqConfig(tid);
            return new ThreadRecord(pid, tid, t.stoppedRegs().words(), Ptrace.getXstate(tid), sigmask,
                    Ptrace.peekSiginfo(tid, false), s.get(JAVA_LONG, 0), s.get(JAVA_INT, 8), s.get(JAVA_LONG, 16),
                    s.get(JAVA_LONG, 32), robust[0], robust[1], rseq.pointer(), rseq.size(), rseq.signature());
        }
    }

    // ---------------------------------------------------------------- restore

    /**
     * Process-wide state into a restored process whose memory is back. Credentials are not changed here:
     * they must drop last (restoreCredentials).
     */
    public static void restoreTask(Tracee t, TaskRecord task, DeletedCwdRecord deletedCwd, boolean deletedRoot, cryo.ns.Root paths,
                                   java.util.function.Consumer<String> warn) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            for (int sig = 1; sig <= TaskRecord.NSIG; sig++) {
                if (sig == SIGKILL || sig == SIGSTOP) continue;
                MemorySegment act = MemorySegment.ofArray(java.util.Arrays.copyOfRange(task.sigactions(), 4 * (sig - 1), 4 * sig));
                if (act.get(JAVA_LONG, 0) == TaskRecord.SIG_DFL && act.get(JAVA_LONG, 8) == 0 && act.get(JAVA_LONG, 24) == 0) continue;
                long addr = t.put(0, a.allocate(32).copyFrom(act));
                t.syscall("rt_sigaction(" + sig + ")", Nr.RT_SIGACTION, sig, addr, 0, 8);
            }
            t.syscall("umask", Nr.UMASK, task.umask());
            if (deletedCwd != null) DeletedCwd.enter(t, deletedCwd, deletedRoot, paths, warn);
            else t.syscall("chdir(" + task.cwd() + ")", Nr.CHDIR, t.putString(0, task.cwd()));
            if (task.personality() != 0) t.syscall("personality", Nr.PERSONALITY, task.personality());
            t.syscall("prctl(PR_SET_NAME)", Nr.PRCTL, PR_SET_NAME, t.putString(0, task.comm()));
            if (task.childSubreaper()) t.syscall("prctl(PR_SET_CHILD_SUBREAPER)", Nr.PRCTL, PR_SET_CHILD_SUBREAPER, 1);
            restoreItimers(t, task, a);
            Rlimits.restore(t.tid, task.rlimits());
            for (byte[] si : task.sharedPending()) {
                t.syscall("rt_sigqueueinfo", Nr.RT_SIGQUEUEINFO, t.nsTid, signo(si), t.put(0, MemorySegment.ofArray(si)));
            }
        }
    }

    /**
     * ITIMER_REAL, VIRTUAL and PROF. An expired ITIMER_REAL is not re-armed when it fires but when its SIGALRM
     * is dequeued (kernel/signal.c dequeue_signal() -> posixtimer_rearm_itimer()): while that signal is
     * pending, getitimer shows the interval with a zero value, and setitimer cannot set an interval without
     * arming the timer. So such a timer is armed to fire at once and allowed to fire before the saved
     * SIGALRM is queued again (which a pending SIGALRM then absorbs): the task is left with one SIGALRM
     * pending, the interval set and the timer idle, exactly as it was.
     */
    private static void restoreItimers(Tracee t, TaskRecord task, Arena a) throws SysException {
        long[] it = task.itimers();
        for (int which = 0; which < 3; which++) {
            long[] v = java.util.Arrays.copyOfRange(it, 4 * which, 4 * which + 4);
            boolean interval = v[0] != 0 || v[1] != 0, value = v[2] != 0 || v[3] != 0;
            boolean firedUnseen = which == ITIMER_REAL && interval && !value && task.sharedPending().stream().anyMatch(si -> signo(si) == SIGALRM);
            if (!value && !firedUnseen) continue;
            if (firedUnseen) v[3] = 1;
            long addr = t.put(0, a.allocate(32).copyFrom(MemorySegment.ofArray(v)));
            t.syscall("setitimer(" + which + ")", Nr.SETITIMER, which, addr, 0);
            for (int i = 0; firedUnseen; i++) {
                t.syscall("getitimer(" + which + ")", Nr.GETITIMER, which, addr);
                MemorySegment now = t.get(addr, 32, a);
                if (now.get(JAVA_LONG, 16) == 0 && now.get(JAVA_LONG, 24) == 0) break;
                if (i == 1000) throw new SysException("ITIMER_REAL of task " + t.tid + " armed for 1 us has not fired", cryo.sys.Errno.EINVAL);
            }
        }
    }

    /** Per-thread state; the registers themselves are loaded by the caller's last remote call. */
    public static void restoreThread(Tracee t, int tgid, ThreadRecord th) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            if (th.altstackSp() != 0 || th.altstackSize() != 0) {
                MemorySegment ss = a.allocate(24);
                ss.set(JAVA_LONG, 0, th.altstackSp());
                ss.set(JAVA_INT, 8, th.altstackFlags() & ~1 /* SS_ONSTACK is a state, not a flag to set */);
                ss.set(JAVA_LONG, 16, th.altstackSize());
                t.syscall("sigaltstack", Nr.SIGALTSTACK, t.put(0, ss), 0);
            }
            t.syscall("set_tid_address", Nr.SET_TID_ADDRESS, th.clearChildTid());
            if (th.robustHead() != 0) t.syscall("set_robust_list", Nr.SET_ROBUST_LIST, th.robustHead(), th.robustLen());
            if (th.rseqPointer() != 0) {
                t.syscall("rseq", Nr.RSEQ, th.rseqPointer(), th.rseqSize(), 0, th.rseqSignature());
            }
            for (byte[] si : th.pending()) {
                t.syscall("rt_tgsigqueueinfo", Nr.RT_TGSIGQUEUEINFO, tgid, th.tid(), signo(si), t.put(0, MemorySegment.ofArray(si)));
            }
        }
    }

    /**
     * Credentials (Credentials.restore): the last remote calls that need privilege. In the leader, after its
     * threads: then the dumpable flag and the parent-death signal, which any change of credentials resets
     * (kernel/cred.c commit_creds()).
     */
    public static void restoreCredentials(Tracee t, TaskRecord task) throws SysException, IOException, ImageException {
        Credentials.restore(t, task);
        if (t.nsTid != task.pid()) return;   // a thread: the rest is the leader's
        Credentials.restoreDumpable(t, task);
        if (task.pdeathSignal() != 0) t.syscall("prctl(PR_SET_PDEATHSIG)", Nr.PRCTL, PR_SET_PDEATHSIG, task.pdeathSignal());
    }

    /** A zombie's uids, gids (4 each) and groups, for its TREE entry. */
    public static int[] zombieCredentials(ProcStat s) {
        return Credentials.zombie(s);
    }

    /** A zombie-to-be's uids, gids and groups, before it exits (its capabilities follow its uids). */
    public static void restoreZombieCredentials(Tracee t, int[] creds) throws SysException {
        Credentials.restoreZombie(t, creds);
    }

    /** What the restart cannot give the tasks (limits, capabilities), checked before anything is created. */
    public static void preflight(Collection<TaskRecord> tasks) throws ImageException, IOException, SysException {
        Rlimits.preflight(tasks);
        Credentials.preflight(tasks);
    }

    /** Final CPU state: xstate now, general registers at the exit of the last remote call. */
    public static Regs finalRegs(Tracee t, ThreadRecord th) throws SysException {
        Ptrace.setXstate(t.tid, th.xstate());
        return SyscallRestart.resume(new Regs(th.regs()), false);
    }

    static int signo(byte[] si) {
        return (si[0] & 0xff) | (si[1] & 0xff) << 8;
    }
}
