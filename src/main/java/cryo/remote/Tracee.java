package cryo.remote;

import cryo.sys.Errno;
import cryo.sys.ProcessVm;
import cryo.sys.Ptrace;
import cryo.sys.Regs;
import cryo.sys.SysException;
import cryo.sys.Wait;
import cryo.sys.WaitStatus;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A stopped thread that cryo drives from outside. Remote syscalls borrow its registers: rip is pointed at a
 * `syscall` instruction that already exists in the task (the vdso's at checkpoint, a gadget page at
 * restart), the call runs between a PTRACE_SYSCALL entry and exit stop, and the registers the task had
 * are put back before it is released. orig_rax is always -1 in the registers cryo loads, or the kernel would
 * apply its own syscall-restart logic on the way back to user space (arch/x86/kernel/signal.c).
 * All calls must come from the thread that seized the task.
 *
 * At checkpoint a thread is guarded (guardMask): its signals are blocked only while its registers are borrowed,
 * and with a rescue frame (useRescue, GuardedScratch) each call runs from cryo's own code, `syscall; mov $15,
 * %eax; syscall`, with rsp on a signal frame of the thread's own context: a thread released by a dead cryo at any
 * moment finishes the call and rt_sigreturns to where it was, with its own mask.
 */
public final class Tracee {
    public static final long WAIT_MS = 10_000;

    /** The thread's id on the host: what ptrace, /proc and cryo's own signals name it by. */
    public final int tid;
    /**
     * Its id in its own pid namespace: what remote calls inside it name it by (a restored container's tasks;
     * tid itself for a plain tree, and at checkpoint, where no remote call names the task).
     */
    public final int nsTid;
    private final Regs stopped;
    private long syscallInsn;
    private long scratch, scratchSize;
    private boolean regsBorrowed;
    /** cryo's code area (`syscall; mov $15, %eax; syscall`) and this thread's rescue frame there; 0: none. */
    private long rescueCode, rescueFrame;
    /** A guarded thread's own blocked mask, and whether cryo has blocked all its signals meanwhile. */
    private long ownMask;
    private boolean guarded, blocked;
    private long lastChild;
    private final int firstStop;

    private Tracee(int tid, int nsTid, Regs stopped, int firstStop) {
        this.tid = tid;
        this.nsTid = nsTid;
        this.stopped = stopped;
        this.firstStop = firstStop;
    }

    /**
     * WSTOPSIG of the first event stop: SIGTRAP for a running task; for a task that was in a group stop, or
     * taking part in one, the signal that stopped its process (kernel/signal.c do_jobctl_trap).
     */
    public int firstStopSignal() {
        return firstStop;
    }

    /**
     * Seizes a running thread and stops it with PTRACE_INTERRUPT. The first stop is the interrupt's event
     * stop: a pending signal is not dequeued before it (get_signal() handles job-control traps first).
     */
    public static Tracee seize(int tid, int options) throws SysException {
        Ptrace.seize(tid, options);
        Ptrace.interrupt(tid);
        return adopt(tid);
    }

    /** Waits for the first stop of a task that is already traced (seized, or auto-attached at clone). */
    public static Tracee adopt(int tid) throws SysException {
        return adopt(tid, tid);
    }

    /** adopt(tid) for a task whose id in its own pid namespace is nsTid. */
    public static Tracee adopt(int tid, int nsTid) throws SysException {
        WaitStatus st;
        while (true) {
            st = Wait.waitFor(tid, WAIT_MS);
            if (st.gone()) throw new SysException("task " + tid + " " + st + " while being frozen", Errno.ESRCH);
            if (st.stopped() && st.event() == Ptrace.EVENT_STOP) break;
            if (st.stopped() && st.event() == 0 && st.stopSignal() != WaitStatus.SIGTRAP) {
                // A signal-delivery-stop raced the interrupt: let the signal through, the trap stop follows.
                Ptrace.cont(tid, st.stopSignal());
                continue;
            }
            Ptrace.cont(tid, 0);
        }
        return new Tracee(tid, nsTid, Ptrace.getRegs(tid), st.stopSignal());
    }

    /** A seized thread whose first event stop its tracer has already waited for (cryo.checkpoint.ThreadSeizer). */
    public static Tracee stopped(int tid, int firstStop) throws SysException {
        return new Tracee(tid, tid, Ptrace.getRegs(tid), firstStop);
    }

    /** The registers the task had when it stopped. */
    public Regs stoppedRegs() {
        return stopped.copy();
    }

    public void useSyscallAt(long insn) {
        this.syscallInsn = insn;
    }

    /**
     * At checkpoint: the thread's own blocked mask. Its signals are blocked from the moment its registers are
     * borrowed until giveBack(), and only then: a thread released meanwhile by a dead cryo keeps its own mask.
     */
    public void guardMask(long mask) {
        this.ownMask = mask;
        this.guarded = true;
    }

    long ownMask() {
        return ownMask;
    }

    /** Remote calls from now on run at code (GuardedScratch.CODE) with rsp on the rescue frame at frame. */
    void useRescue(long code, long frame) {
        this.rescueCode = code;
        this.rescueFrame = frame;
    }

    /** Remote calls from now on run at the vdso's `syscall` again: no rescue frame (it is about to be unmapped). */
    void dropRescue() {
        this.rescueCode = this.rescueFrame = 0;
    }

    /**
     * Points a thread whose registers are borrowed at the rt_sigreturn of cryo's code, on its rescue frame: if it
     * is released now, it returns to its own context at once.
     */
    void park() throws SysException {
        if (!regsBorrowed || rescueCode == 0) return;
        Ptrace.setRegs(tid, stopped.copy().set(Regs.RIP, rescueCode + 2).set(Regs.RSP, rescueFrame + 8).set(Regs.ORIG_RAX, -1));
    }

    /**
     * Gives a guarded thread back its own context after remote calls: first its mask, then its registers (with
     * its interrupted syscall restarted by hand, see resume()). In between, released, it would still rt_sigreturn
     * on its rescue frame. Idempotent.
     */
    public void giveBack() throws SysException {
        if (blocked) {
            Ptrace.setSigmask(tid, ownMask);
            blocked = false;
            if (rescueCode != 0) cryo.sys.KillPoint.reach("mask-given-back");
        }
        if (regsBorrowed) Ptrace.setRegs(tid, SyscallRestart.resume(stopped, true));
        dropRescue();
    }

    public void useScratch(long addr, long size) {
        this.scratch = addr;
        this.scratchSize = size;
    }

    public long scratch() {
        return scratch;
    }

    public long scratchSize() {
        return scratchSize;
    }

    /**
     * The pid reported by the last PTRACE_EVENT_CLONE/FORK during a remote call: in the tracer's pid namespace
     * (kernel/fork.c ptrace_event_pid() translates it), so the host pid of a child created in a container,
     * where clone3 itself returns the child's pid inside.
     */
    public long lastChild() {
        return lastChild;
    }

    /** Runs syscall nr in the task; returns its result or throws naming the call and the task. */
    public long syscall(String name, int nr, long... args) throws SysException {
        long r = call(nr, null, args);
        if (r < 0 && r > -4096) throw new SysException("remote " + name + " in task " + tid, (int) -r);
        return r;
    }

    /** Runs syscall nr in the task; returns the raw result (-errno on failure). */
    public long call(int nr, Regs atExit, long... args) throws SysException {
        if (syscallInsn == 0) throw new IllegalStateException("no syscall instruction known in task " + tid);
        long result = callAt(rescueCode != 0 ? rescueCode : syscallInsn, nr, args);
        if (atExit != null) {
            Ptrace.setRegs(tid, atExit);
        }
        return result;
    }

    /** What cryo does with a descriptor a remote call made in the task, before the task closes it. */
    @FunctionalInterface
    public interface RemoteFdUse {
        int apply(int remoteFd) throws SysException;
    }

    /**
     * Runs syscall nr, which makes a descriptor in the task, hands that descriptor to use (which copies it into
     * cryo, pidfd_getfd) and closes it in the task. Guarded, the close is the next instruction of cryo's code
     * (GuardedScratch.CLOSE_AFTER): a task released by a dead cryo anywhere in between closes it itself before
     * its rt_sigreturn, so no descriptor is left in it.
     */
    public int withRemoteFd(String name, int nr, RemoteFdUse use, long... args) throws SysException {
        if (rescueCode == 0) {
            int remote = (int) syscall(name, nr, args);
            try {
                return use.apply(remote);
            } finally {
                syscall("close(" + name + ")", cryo.sys.Nr.CLOSE, remote);
            }
        }
        long r = callAt(rescueCode + GuardedScratch.CLOSE_AFTER, nr, args);
        try {
            if (r < 0 && r > -4096) throw new SysException("remote " + name + " in task " + tid, (int) -r);
            return use.apply((int) r);
        } finally {
            runSyscall(cryo.sys.Nr.CLOSE);   // close(rax) of cryo's code: the task is left on its rt_sigreturn
        }
    }

    /** Loads the call's registers at rip (rsp on the rescue frame, if any) and runs it to its exit stop. */
    private long callAt(long rip, int nr, long... args) throws SysException {
        Regs r = stopped.copy();
        r.set(Regs.RIP, rip);
        if (rescueCode != 0) r.set(Regs.RSP, rescueFrame + 8);
        r.set(Regs.RAX, nr).set(Regs.ORIG_RAX, -1);
        int[] argRegs = {Regs.RDI, Regs.RSI, Regs.RDX, Regs.R10, Regs.R8, Regs.R9};
        for (int i = 0; i < args.length; i++) r.set(argRegs[i], args[i]);
        Ptrace.setRegs(tid, r);
        regsBorrowed = true;
        if (guarded && !blocked) {
            // Resumed by PTRACE_SYSCALL, the thread would take its pending signals first (get_signal()).
            Ptrace.setSigmask(tid, ~0L);
            blocked = true;
        }
        cryo.sys.KillPoint.reach(rescueCode != 0 ? "borrowed" : "borrowed-at-vdso");
        long result = runSyscall(nr);
        if (rescueCode != 0) cryo.sys.KillPoint.reach("remote-call-done");
        return result;
    }

    /** Resumes the task up to the exit stop of the next syscall it makes (nr, for messages); returns its rax. */
    private long runSyscall(int nr) throws SysException {
        Ptrace.syscall(tid, 0);
        boolean entered = false;
        while (true) {
            WaitStatus st = Wait.waitFor(tid, WAIT_MS);
            if (st.gone()) throw new SysException("task " + tid + " " + st + " during remote syscall " + nr, Errno.ESRCH);
            if (st.syscallStop()) {
                if (entered) break;
                entered = true;
            } else if (st.stopped() && st.stopSignal() == WaitStatus.SIGTRAP && st.event() != 0) {
                int ev = st.event();
                if (ev == Ptrace.EVENT_CLONE || ev == Ptrace.EVENT_FORK || ev == Ptrace.EVENT_VFORK) {
                    lastChild = Ptrace.eventMsg(tid);
                }
            } else if (st.stopped() && st.event() == 0) {
                throw new SysException("task " + tid + " got signal " + st.stopSignal() + " during remote syscall " + nr
                        + " at 0x" + Long.toHexString(syscallInsn), Errno.EFAULT);
            }
            Ptrace.syscall(tid, 0);
        }
        return Ptrace.getRegs(tid).rax();
    }

    /**
     * Lets the task run on as it was: the blocked mask it had, and its registers. After a remote call the task
     * sits in a syscall-exit stop where the kernel will not restart its interrupted syscall, so cryo does
     * that itself (SyscallRestart); before any remote call it is still in its first stop and the kernel does.
     */
    public void resume(long sigmask) throws SysException {
        if (regsBorrowed) Ptrace.setRegs(tid, SyscallRestart.resume(stopped, true));
        Ptrace.setSigmask(tid, sigmask);
        Ptrace.detach(tid, 0);
    }

    /**
     * Ends this (freshly created, still empty) task so that its parent will see wait status `status`: a
     * normal exit through exit_group, or death by the signal, sent while cryo traces it and let through at
     * its signal-delivery stop. No core is dumped (RLIMIT_CORE 0), so the core flag is not reproduced.
     */
    public void exitAs(int status) throws SysException {
        if ((status & 0x7f) == 0) {
            Regs r = stopped.copy();
            r.set(Regs.RIP, syscallInsn).set(Regs.RAX, cryo.sys.Nr.EXIT_GROUP).set(Regs.RDI, (status >> 8) & 0xff).set(Regs.ORIG_RAX, -1);
            Ptrace.setRegs(tid, r);
        } else {
            // RLIMIT_CORE {0, 0}, set by the task itself: it may have another user's credentials already
            try (Arena a = Arena.ofConfined()) {
                syscall("prlimit64(RLIMIT_CORE)", cryo.sys.Nr.PRLIMIT64, 0, 4, put(0, a.allocate(16)), 0);
            }
            Ptrace.setSigmask(tid, 0);
            cryo.sys.Proc.tgkill(tid, tid, status & 0x7f);
        }
        int next = 0;
        while (true) {
            try {
                Ptrace.cont(tid, next);
            } catch (SysException e) {
                if (e.errno() != Errno.ESRCH) throw e;   // SIGKILL needs no help: it is dead already
            }
            WaitStatus st = Wait.waitFor(tid, WAIT_MS);
            if (st.gone()) return;
            next = st.stopped() && st.event() == 0 && st.stopSignal() == (status & 0x7f) ? st.stopSignal() : 0;
        }
    }

    /** Copies bytes into the task's scratch area at offset; returns the remote address. */
    public long put(long offset, MemorySegment data) throws SysException {
        if (offset + data.byteSize() > scratchSize) throw new IllegalArgumentException("scratch overflow");
        long addr = scratch + offset;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment local = data.isNative() ? data : a.allocate(data.byteSize(), 8).copyFrom(data);
            if (ProcessVm.write(tid, local, addr) != data.byteSize()) {
                throw new SysException("process_vm_writev to scratch of task " + tid, Errno.EFAULT);
            }
        }
        return addr;
    }

    public long putString(long offset, String s) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            return put(offset, a.allocateFrom(s));
        }
    }

    /** Reads len bytes of the task at addr into a new segment of arena. */
    public MemorySegment get(long addr, long len, Arena arena) throws SysException {
        MemorySegment s = arena.allocate(len, 8);
        if (ProcessVm.read(tid, s, addr) != len) throw new SysException("process_vm_readv of task " + tid + " at 0x" + Long.toHexString(addr), Errno.EFAULT);
        return s;
    }
}
