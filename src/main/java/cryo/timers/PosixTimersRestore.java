package cryo.timers;

import cryo.remote.Tracee;
import cryo.sys.Errno;
import cryo.sys.Nr;
import cryo.sys.Ptrace;
import cryo.sys.SysException;
import cryo.sys.Timers;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The restart half of POSIX timers, in one process whose threads exist and whose pending signals are queued
 * again. prctl(PR_TIMER_CREATE_RESTORE_IDS, ON) makes timer_create take the id from *timerid instead of
 * allocating one (include/uapi/linux/prctl.h, kernel/time/posix-timers.c, since 6.15); it is turned off again
 * at once. A timer is then armed with its time left and interval, relative to now. A timer whose own signal
 * was pending is armed to expire at once instead, so that the kernel queues that signal itself, after the
 * signals restored before it: a periodic one so that the next expiry it is forwarded to when its signal is
 * taken is the one it had (its expiry one interval before that). The overrun of a periodic timer's last signal
 * is restored too (restoreOverrun).
 */
final class PosixTimersRestore {
    private static final int PR_TIMER_CREATE_RESTORE_IDS = 77, RESTORE_IDS_OFF = 0, RESTORE_IDS_ON = 1;
    // Scratch layout: struct sigevent (64 bytes), the timer id, a timespec; struct itimerspec at SC_ITS.
    private static final int SC_SIGEVENT = 0, SC_ID = 64, SC_NOW = 96, SC_SET = 112, SC_ZERO = 160, SC_INFO = 256;
    private static final long NS = PosixTimers.NS;
    /** How long a timer armed to expire at once may take to queue its signal. */
    private static final long QUEUE_WAIT_MS = 5000;

    private final Tracee leader;
    private final Map<Integer, Tracee> byTid = new HashMap<>();

    PosixTimersRestore(Tracee leader, List<Tracee> threads) {
        this.leader = leader;
        byTid.put(leader.nsTid, leader);
        for (Tracee t : threads) byTid.put(t.nsTid, t);
    }

    void restore(List<PosixTimerRecord> timers) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            leader.syscall("prctl(PR_TIMER_CREATE_RESTORE_IDS, ON)", Nr.PRCTL, PR_TIMER_CREATE_RESTORE_IDS, RESTORE_IDS_ON, 0, 0, 0);
            try {
                for (PosixTimerRecord r : timers) create(r, a);
            } finally {
                leader.syscall("prctl(PR_TIMER_CREATE_RESTORE_IDS, OFF)", Nr.PRCTL, PR_TIMER_CREATE_RESTORE_IDS, RESTORE_IDS_OFF, 0, 0, 0);
            }
            // Overruns first, while no timer is armed: each takes its own signal as the first of its number.
            for (PosixTimerRecord r : timers) if (PosixTimers.overrunToRestore(r)) restoreOverrun(r, a);
            for (PosixTimerRecord r : timers) {
                if (r.pending()) fire(r, a);
                else if (r.valueNs() != 0 && !PosixTimers.overrunToRestore(r)) settime(r, 0, r.valueNs());
            }
        }
    }

    /** timer_create with r's clock and sigevent, asking for r's id. */
    private void create(PosixTimerRecord r, Arena a) throws SysException {
        MemorySegment sev = a.allocate(64);
        sev.set(JAVA_LONG, 0, r.sigevValue());
        sev.set(JAVA_INT, 8, r.signal());
        sev.set(JAVA_INT, 12, r.sigevNotify());
        sev.set(JAVA_INT, 16, r.tid());   // sigev_notify_thread_id
        MemorySegment id = a.allocate(4);
        id.set(JAVA_INT, 0, r.id());
        long sevAddr = leader.put(SC_SIGEVENT, sev), idAddr = leader.put(SC_ID, id);
        leader.syscall("timer_create(id " + r.id() + ", clock " + r.clock() + ")", Timers.TIMER_CREATE, r.clock(), sevAddr, idAddr);
        int got = leader.get(idAddr, 4, a).get(JAVA_INT, 0);
        if (got != r.id()) throw new SysException("remote timer_create in task " + leader.tid + " made timer " + got + ", not " + r.id(), Errno.EINVAL);
    }

    private void settime(PosixTimerRecord r, int flags, long value) throws SysException {
        MemorySegment its = MemorySegment.ofArray(new long[]{r.intervalNs() / NS, r.intervalNs() % NS, value / NS, value % NS});
        leader.syscall("timer_settime(" + r.id() + ")", Timers.TIMER_SETTIME, r.id(), flags, leader.put(PosixTimers.SC_ITS, its), 0);
    }

    /** The time on r's clock in the process. */
    private long now(PosixTimerRecord r, Arena a) throws SysException {
        leader.syscall("clock_gettime(" + r.clock() + ")", Timers.CLOCK_GETTIME, Timers.baseClock(r.clock()), leader.scratch() + SC_NOW);
        MemorySegment ts = leader.get(leader.scratch() + SC_NOW, 16, a);
        return ts.get(JAVA_LONG, 0) * NS + ts.get(JAVA_LONG, 8);
    }

    /** Arms r to expire at once and waits until its signal is queued where it was (the process, or its thread). */
    private void fire(PosixTimerRecord r, Arena a) throws SysException {
        long now = now(r, a);
        settime(r, Timers.TIMER_ABSTIME, Math.max(1, r.intervalNs() == 0 ? now : now + r.valueNs() - r.intervalNs()));
        awaitQueued(r);
    }

    /**
     * Arms periodic timer r so that the overrun of its last signal (timer_getoverrun) is r.overrun() again. The
     * kernel sets it only when a signal of the timer is taken: the number of intervals the timer is then forwarded
     * by beyond the one that fired (posixtimer_deliver_signal() -> timer_rearm -> hrtimer_forward()). So r is armed
     * to have expired overrun + 1 intervals before its next expiry, and its signal is taken at once with
     * rt_sigtimedwait in the thread it goes to (every signal blocked there meanwhile), which re-arms it for that
     * next expiry. When that expiry comes before the signal is taken (a time left shorter than these few calls),
     * the kernel counts it as one more overrun: tried three times, then left so.
     */
    private void restoreOverrun(PosixTimerRecord r, Arena a) throws SysException {
        Tracee target = r.threadTargeted() ? byTid.get(r.tid()) : leader;
        long mask = Ptrace.getSigmask(target.tid);
        Ptrace.setSigmask(target.tid, ~0L);
        try {
            for (int attempt = 0; attempt < 3; attempt++) {
                long now = now(r, a);
                long back = (r.overrun() + 1L) > (now + r.valueNs()) / r.intervalNs() ? Long.MAX_VALUE : (r.overrun() + 1L) * r.intervalNs();
                settime(r, Timers.TIMER_ABSTIME, back == Long.MAX_VALUE ? 1 : Math.max(1, now + r.valueNs() - back));
                awaitQueued(r);
                MemorySegment set = a.allocate(8).fill((byte) 0), zero = a.allocate(16).fill((byte) 0);
                set.set(JAVA_LONG, 0, 1L << (r.signal() - 1));
                long setAddr = target.put(SC_SET, set), zeroAddr = target.put(SC_ZERO, zero);
                // The thread's registers are back as they are now at the exit of the call (a thread's are final already).
                long got = target.call(Nr.RT_SIGTIMEDWAIT, Ptrace.getRegs(target.tid), setAddr, target.scratch() + SC_INFO, zeroAddr, 8);
                byte[] si = target.get(target.scratch() + SC_INFO, 128, a).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                if (got != r.signal() || !PosixTimers.ownSignal(si, r.id(), r.signal())) {
                    throw new SysException("remote rt_sigtimedwait(" + r.signal() + ") in task " + target.tid + " did not take the signal of POSIX timer "
                            + r.id() + " (" + got + ")", got < 0 ? (int) -got : Errno.EINVAL);
                }
                long overrun = leader.syscall("timer_getoverrun(" + r.id() + ")", Timers.TIMER_GETOVERRUN, r.id());
                if (overrun == r.overrun()) return;
            }
        } finally {
            Ptrace.setSigmask(target.tid, mask);
        }
    }

    /** Waits until r's own signal is queued where it goes (the process, or its thread). */
    private void awaitQueued(PosixTimerRecord r) throws SysException {
        Tracee target = r.threadTargeted() ? byTid.get(r.tid()) : leader;
        long deadline = System.nanoTime() + QUEUE_WAIT_MS * 1_000_000;
        while (Ptrace.peekSiginfo(target.tid, !r.threadTargeted()).stream().noneMatch(si -> PosixTimers.ownSignal(si, r.id(), r.signal()))) {
            if (System.nanoTime() > deadline) {
                throw new SysException("POSIX timer " + r.id() + " of task " + leader.tid + ", armed to expire at once, has not queued its signal "
                        + r.signal(), Errno.EAGAIN);
            }
            Thread.onSpinWait();
        }
    }
}
