package cryo.files;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;
import cryo.sys.Timers;

import java.util.Set;

/**
 * TIMERFD: a timerfd (timerfd_create(2)), named by objref from its TIMERFD descriptions (OPEN_FILE field
 * 'file'). clock is its clock id, settimeFlags the flags of its last timerfd_settime (TFD_TIMER_ABSTIME,
 * TFD_TIMER_CANCEL_ON_SET), ticks the expirations not read yet. valueNs is the next expiry: an absolute time
 * on the clock for an absolute timer, the time left for a relative one, 0 when disarmed; intervalNs its period
 * (0: one-shot; a disarmed timerfd keeps the interval it was last set with, fs/timerfd.c timerfd_setup()). Times in nanoseconds, as the kernel keeps them (ktime_t).
 */
public record TimerfdRecord(int objref, int clock, int settimeFlags, long ticks, long valueNs, long intervalNs) implements ImageRecord {
    /** The clocks timerfd_create accepts (fs/timerfd.c). */
    static final Set<Integer> CLOCKS = Set.of(Timers.CLOCK_REALTIME, Timers.CLOCK_MONOTONIC, Timers.CLOCK_BOOTTIME,
            Timers.CLOCK_REALTIME_ALARM, Timers.CLOCK_BOOTTIME_ALARM);

    public boolean absolute() {
        return (settimeFlags & Timers.TFD_TIMER_ABSTIME) != 0;
    }

    /** What `cryo show` prints. */
    public java.util.Map<String, Object> fields() {
        java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("objref", objref);
        m.put("clock", clock);
        m.put("settime_flags", settimeFlags);
        m.put("ticks", ticks);
        m.put(absolute() ? "expiry_ns" : "left_ns", valueNs);
        m.put("interval_ns", intervalNs);
        return m;
    }

    public RecordType type() {
        return RecordType.TIMERFD;
    }

    public void encode(Encoder e) {
        e.u32(objref).u32(clock).u32(settimeFlags).u64(ticks).u64(valueNs).u64(intervalNs);
    }

    public static TimerfdRecord decode(Decoder d) throws ImageException {
        int objref = d.u32("objref", 1, Integer.MAX_VALUE);
        int clock = d.u32("clock");
        if (!CLOCKS.contains(clock)) throw d.error("clock", clock + " is not a clock a timerfd can use (0, 1, 7, 8, 9)");
        int flags = d.u32("settime_flags", 0, Timers.TFD_TIMER_ABSTIME | Timers.TFD_TIMER_CANCEL_ON_SET);
        boolean realtime = clock == Timers.CLOCK_REALTIME || clock == Timers.CLOCK_REALTIME_ALARM;
        if ((flags & Timers.TFD_TIMER_CANCEL_ON_SET) != 0 && (flags != (Timers.TFD_TIMER_ABSTIME | Timers.TFD_TIMER_CANCEL_ON_SET) || !realtime)) {
            throw d.error("settime_flags", "TFD_TIMER_CANCEL_ON_SET needs TFD_TIMER_ABSTIME and a CLOCK_REALTIME clock");
        }
        long ticks = d.u64("ticks");
        long value = d.u64("value_ns"), interval = d.u64("interval_ns");
        if (ticks < 0) throw d.error("ticks", "is negative");
        if (value < 0) throw d.error("value_ns", "is negative");
        if (interval < 0) throw d.error("interval_ns", "is negative");
        return new TimerfdRecord(objref, clock, flags, ticks, value, interval);
    }
}
