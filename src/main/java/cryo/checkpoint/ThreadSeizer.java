package cryo.checkpoint;

import cryo.image.Refusal;
import cryo.remote.Tracee;
import cryo.sys.Errno;
import cryo.sys.Ptrace;
import cryo.sys.SysException;
import cryo.sys.Wait;
import cryo.sys.WaitStatus;
import cryo.task.ProcStat;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Seizes and stops one thread of a process that may be exiting, forking or exec'ing meanwhile. An execve in
 * a thread other than the leader (fs/exec.c de_thread()) kills every other thread, waits until the traced
 * ones among them are reaped by their tracer (release_task() is what counts them down), then gives the
 * exec'ing thread the leader's tid: so while one thread is waited for, the dead threads seized before are
 * reaped, and a tid can come to name another task (an ECHILD from waitpid, a leader that is a zombie for a
 * moment and refuses PTRACE_SEIZE with EPERM, a task that is already ours).
 */
final class ThreadSeizer {
    /** What became of one attempt. */
    sealed interface Outcome permits Seized, Missed {
    }

    record Seized(Tracee tracee) implements Outcome {
    }

    enum Missed implements Outcome {
        /** The thread has exited. */
        GONE,
        /** The tid is changing hands (an exec in the process): look again on the next pass. */
        AGAIN,
        /** EPERM from a live thread nobody traces: a leader in de_thread's zombie moment, or a real refusal. */
        NOT_PERMITTED
    }

    private static final int SELF = (int) ProcessHandle.current().pid();

    private ThreadSeizer() {
    }

    /** PTRACE_SEIZE of tid, while the dead threads of p that cryo holds are reaped (DeadThreadReaper). */
    private static void seizeReaping(FrozenTree.Process p, int tid) throws SysException {
        List<Integer> held = new ArrayList<>(p.dying);
        for (Tracee t : p.threads) held.add(t.tid);
        if (!held.isEmpty()) p.reaper.watch(p.pid, held);
        try {
            Ptrace.seize(tid, Ptrace.O_TRACESYSGOOD);
        } finally {
            if (!held.isEmpty()) {
                Set<Integer> reaped = p.reaper.stop();
                p.dying.removeAll(reaped);
                for (int i = p.threads.size() - 1; i >= 0; i--) {
                    if (!reaped.contains(p.threads.get(i).tid)) continue;
                    p.threads.remove(i);
                    p.masks.remove(i);
                }
            }
        }
    }

    static Outcome seize(FrozenTree.Process p, int tid) throws Refusal, SysException, IOException {
        try {
            seizeReaping(p, tid);
        } catch (SysException e) {
            if (e.errno() == Errno.ESRCH) return Missed.GONE;
            if (e.errno() != Errno.EPERM) throw e;
            // ptrace_attach() gives EPERM, not ESRCH, for a task that has already exited (kernel/ptrace.c):
            // look before calling it a permission problem.
            ProcStat s = ProcStat.readThread(p.pid, tid);
            if (s == null || s.state == 'Z' || s.state == 'X') return Missed.GONE;
            int tracer = OtherTracer.tracer(p.pid, tid);
            if (tracer == 0) return Missed.NOT_PERMITTED;
            if (tracer != SELF) throw OtherTracer.of(p.pid, tid);
            // Ours already: the exec'ing thread, seized under its old tid, took this one.
            WaitStatus st = poll(tid);
            Outcome o = st == null ? stoppedUnreported(p, tid) : adopt(p, tid, st);
            if (o != null) return o;
        }
        try {
            Ptrace.interrupt(tid);
        } catch (SysException e) {
            if (e.errno() == Errno.ESRCH) return Missed.AGAIN;
            throw e;
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Tracee.WAIT_MS);
        long backoff = 20_000;
        while (true) {
            WaitStatus st = poll(tid);
            if (st == null) {
                // A stop reported already (to a wait for the tid when it named another task) is not reported again.
                Outcome o = stoppedUnreported(p, tid);
                if (o != null) return o;
                // An exec in this process waits for its dead threads to be reaped: reap those that are ours.
                reapDead(p);
                if (System.nanoTime() > deadline) throw new SysException("task " + tid + " did not stop within " + Tracee.WAIT_MS + " ms of PTRACE_INTERRUPT", Errno.EAGAIN);
                LockSupport.parkNanos(backoff);
                backoff = Math.min(backoff * 2, 1_000_000);
                continue;
            }
            if (st.pid() < 0) return Missed.AGAIN;
            Outcome o = adopt(p, tid, st);
            if (o != null) return o;
        }
    }

    /** The outcome of a wait status of tid, or null to wait on (a stop that is not the interrupt's, let go). */
    private static Outcome adopt(FrozenTree.Process p, int tid, WaitStatus st) throws SysException {
        if (st.pid() < 0) return Missed.AGAIN;
        if (st.gone()) return Missed.GONE;
        if (st.stopped() && st.event() == Ptrace.EVENT_STOP) {
            try {
                return new Seized(Tracee.stopped(tid, st.stopSignal()));
            } catch (SysException e) {
                if (e.errno() != Errno.ESRCH) throw e;
                p.dying.add(tid);   // killed as soon as it stopped: an exec in a thread not seized yet
                return Missed.AGAIN;
            }
        }
        // A signal-delivery-stop raced the interrupt: let the signal through, the trap stop follows.
        int sig = st.stopped() && st.event() == 0 && st.stopSignal() != WaitStatus.SIGTRAP ? st.stopSignal() : 0;
        Ptrace.cont(tid, sig);
        return null;
    }

    /** waitpid(tid, WNOHANG): a status with pid -1 when tid names no tracee of ours any more (ECHILD). */
    private static WaitStatus poll(int tid) throws SysException {
        try {
            return Wait.poll(tid);
        } catch (SysException e) {
            if (e.errno() == Errno.ECHILD) return new WaitStatus(-1, 0);
            throw e;
        }
    }

    /**
     * tid adopted if it is in a ptrace stop already (PTRACE_GETREGS works only then), else null. A stop is
     * reported before the task sleeps in it (kernel/signal.c ptrace_stop()), so a report still queued is
     * drained here.
     */
    private static Outcome stoppedUnreported(FrozenTree.Process p, int tid) throws SysException {
        try {
            Ptrace.getRegs(tid);
        } catch (SysException e) {
            if (e.errno() == Errno.ESRCH) return null;
            throw e;
        }
        WaitStatus queued = poll(tid);
        if (queued != null && (queued.pid() < 0 || queued.gone())) return adopt(p, tid, queued);
        return adopt(p, tid, new WaitStatus(tid, Ptrace.EVENT_STOP << 16 | WaitStatus.SIGTRAP << 8 | 0x7f));
    }

    /**
     * Reaps the dead among the threads of p that cryo holds or held: any state change reported for a stopped
     * thread means it is no longer the task that stopped (dead, or another task under its tid). True when
     * any was dropped.
     */
    static boolean reapDead(FrozenTree.Process p) throws SysException {
        for (int i = p.dying.size() - 1; i >= 0; i--) {
            WaitStatus st = statusOf(p, p.dying.get(i));
            if (st != null) p.dying.remove(i);
        }
        boolean any = false;
        for (int i = p.threads.size() - 1; i >= 0; i--) {
            WaitStatus st = statusOf(p, p.threads.get(i).tid);
            if (st == null) continue;
            p.threads.remove(i);
            p.masks.remove(i);
            any = true;
        }
        return any;
    }

    /** A state change of tid, if any; a signal-delivery-stop of another task under its tid lets the signal go. */
    private static WaitStatus statusOf(FrozenTree.Process p, int tid) throws SysException {
        WaitStatus st = poll(tid);
        if (st == null) return null;
        if (st.pid() > 0 && st.stopped() && st.event() == 0 && !st.syscallStop() && st.stopSignal() != WaitStatus.SIGTRAP) {
            try {
                Ptrace.cont(tid, st.stopSignal());
            } catch (SysException e) {
                if (e.errno() != Errno.ESRCH) throw e;
            }
        }
        return st;
    }

    /**
     * Drops the threads of p whose tid names another task than the one that stopped (an exec through a
     * thread not seized yet killed it) or no stopped task at all: their registers are those they stopped with.
     * The dead are reaped as they come (an exec waits for that).
     */
    static boolean dropReplaced(FrozenTree.Process p) throws SysException {
        boolean any = reapDead(p);
        for (int i = p.threads.size() - 1; i >= 0; i--) {
            Tracee t = p.threads.get(i);
            boolean same;
            try {
                same = Ptrace.getRegs(t.tid).equals(t.stoppedRegs());
            } catch (SysException e) {
                if (e.errno() != Errno.ESRCH) throw e;
                same = false;
            }
            if (same) continue;
            p.threads.remove(i);
            p.masks.remove(i);
            p.dying.add(t.tid);
            any = true;
        }
        return any;
    }
}
