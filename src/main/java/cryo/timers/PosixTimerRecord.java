package cryo.timers;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;
import cryo.image.Tree;

/**
 * POSIX_TIMER: one POSIX timer (timer_create(2)) of process pid, by its id. clock is the clock id it was created
 * on (a negative one is a CPU clock, include/linux/posix-timers.h CPUCLOCK_*); sigevNotify its sigev_notify
 * (SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD, or SIGEV_SIGNAL|SIGEV_THREAD_ID with target thread tid), signal and
 * value what its signal carries (si_signo, si_value). valueNs is the time left until it fires next (0:
 * disarmed), intervalNs its period, overrun what timer_getoverrun(2) returned (the overrun of the last signal
 * delivered). pending: the timer's own signal was queued and not yet delivered (it is not in the TASK or THREAD
 * record's pending queue: restart has the timer queue it again, PosixTimers).
 */
public record PosixTimerRecord(int pid, int id, int clock, int sigevNotify, int signal, int tid, long sigevValue,
                               long valueNs, long intervalNs, int overrun, boolean pending) implements ImageRecord, cryo.image.HoldsPids {
    public static final int SIGEV_SIGNAL = 0, SIGEV_NONE = 1, SIGEV_THREAD = 2, SIGEV_THREAD_ID = 4;

    public PosixTimerRecord withPids(java.util.function.IntUnaryOperator toImage) {
        return new PosixTimerRecord(toImage.applyAsInt(pid), id, clock, sigevNotify, signal, tid == 0 ? 0 : toImage.applyAsInt(tid), sigevValue,
                valueNs, intervalNs, overrun, pending);
    }

    public boolean threadTargeted() {
        return sigevNotify == (SIGEV_SIGNAL | SIGEV_THREAD_ID);
    }

    /** What `cryo show` prints. */
    public java.util.Map<String, Object> fields() {
        java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("pid", pid);
        m.put("id", id);
        m.put("clock", clock);
        m.put("notify", switch (sigevNotify) {
            case SIGEV_SIGNAL -> "signal";
            case SIGEV_NONE -> "none";
            case SIGEV_THREAD -> "thread";
            default -> "thread_id";
        });
        m.put("signal", signal);
        if (tid != 0) m.put("tid", tid);
        m.put("sigev_value", sigevValue);
        m.put("left_ns", valueNs);
        m.put("interval_ns", intervalNs);
        m.put("overrun", overrun);
        if (pending) m.put("pending", 1);
        return m;
    }

    public RecordType type() {
        return RecordType.POSIX_TIMER;
    }

    public void encode(Encoder e) {
        e.u32(pid).u32(id).u32(clock).u32(sigevNotify).u32(signal).u32(tid).u64(sigevValue).u64(valueNs).u64(intervalNs).u32(overrun).u32(pending ? 1 : 0);
    }

    public static PosixTimerRecord decode(Decoder d) throws ImageException {
        int pid = d.u32("pid", 1, Tree.PID_MAX_LIMIT);
        int id = d.u32("id", 0, Integer.MAX_VALUE);
        int clock = d.u32("clock");
        int sigevNotify = d.u32("notify");
        if (sigevNotify != SIGEV_SIGNAL && sigevNotify != SIGEV_NONE && sigevNotify != SIGEV_THREAD && sigevNotify != (SIGEV_SIGNAL | SIGEV_THREAD_ID)) {
            throw d.error("notify", sigevNotify + " is not SIGEV_SIGNAL (0), SIGEV_NONE (1), SIGEV_THREAD (2) or SIGEV_THREAD_ID (4)");
        }
        int signal = d.u32("signal", sigevNotify == SIGEV_NONE ? 0 : 1, 64);
        int tid = d.u32("tid", 0, Tree.PID_MAX_LIMIT);
        if ((sigevNotify == (SIGEV_SIGNAL | SIGEV_THREAD_ID)) != (tid != 0)) throw d.error("tid", tid + " does not fit notify " + sigevNotify);
        long value = d.u64("sigev_value");
        long left = d.u64("value_ns"), interval = d.u64("interval_ns");
        if (left < 0) throw d.error("value_ns", "is negative");
        if (interval < 0) throw d.error("interval_ns", "is negative");
        int overrun = d.u32("overrun", 0, Integer.MAX_VALUE);
        boolean pending = d.u32("pending", 0, 1) == 1;
        if (pending && sigevNotify == SIGEV_NONE) throw d.error("pending", "is set for a SIGEV_NONE timer, which queues no signal");
        if (!PosixTimers.restorableClock(clock)) throw d.error("clock", clock + " is not a clock a POSIX timer of the process can be created on");
        return new PosixTimerRecord(pid, id, clock, sigevNotify, signal, tid, value, left, interval, overrun, pending);
    }
}
