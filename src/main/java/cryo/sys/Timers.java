package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Clocks, timerfds and signalfds in cryo's own process (restart creates them there for the fd broker), and the
 * numbers remote calls need for POSIX timers. A time is {seconds, nanoseconds}; an itimerspec is
 * {interval sec, interval nsec, value sec, value nsec}, as struct itimerspec lays it out.
 */
public final class Timers {
    public static final int CLOCK_REALTIME = 0, CLOCK_MONOTONIC = 1, CLOCK_PROCESS_CPUTIME_ID = 2, CLOCK_THREAD_CPUTIME_ID = 3,
            CLOCK_BOOTTIME = 7, CLOCK_REALTIME_ALARM = 8, CLOCK_BOOTTIME_ALARM = 9, CLOCK_TAI = 11;
    /** timerfd_settime(2) flags (include/uapi/linux/timerfd.h). */
    public static final int TFD_TIMER_ABSTIME = 1, TFD_TIMER_CANCEL_ON_SET = 2;
    /** ioctl(TFD_IOC_SET_TICKS, u64 *): _IOW('T', 0, u64); needs CONFIG_CHECKPOINT_RESTORE. */
    public static final long TFD_IOC_SET_TICKS = 0x40085400L;
    public static final int TIMER_CREATE = 222, TIMER_SETTIME = 223, TIMER_GETTIME = 224, TIMER_GETOVERRUN = 225,
            TIMER_DELETE = 226;
    public static final int CLOCK_GETTIME = 228, TIMER_ABSTIME = 1;
    private static final int TIMERFD_CREATE = 283, TIMERFD_SETTIME = 286, TIMERFD_GETTIME = 287,
            SIGNALFD4 = 289;
    private static final int O_CLOEXEC = 02000000;

    private Timers() {
    }

    /** clock_gettime(2): {sec, nsec}. */
    public static long[] clockGettime(int clock) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ts = a.allocate(16);
            Native.check(Native.raw(CLOCK_GETTIME, clock, ts.address()), "clock_gettime(" + clock + ")");
            return new long[]{ts.get(JAVA_LONG, 0), ts.get(JAVA_LONG, 8)};
        }
    }

    /** The clock clock_gettime reads for a timer on clock: an alarm clock's base (the RTC may be absent). */
    public static int baseClock(int clock) {
        return switch (clock) {
            case CLOCK_REALTIME_ALARM -> CLOCK_REALTIME;
            case CLOCK_BOOTTIME_ALARM -> CLOCK_BOOTTIME;
            default -> clock;
        };
    }

    /** timerfd_create(2), close-on-exec in cryo (the broker passes it on); flags: TFD_NONBLOCK. */
    public static int timerfdCreate(int clock, int flags) throws SysException {
        return (int) Native.check(Native.raw(TIMERFD_CREATE, clock, flags | O_CLOEXEC), "timerfd_create(" + clock + ", 0" + Integer.toOctalString(flags) + ")");
    }

    /** timerfd_settime(2) with its = {interval sec, nsec, value sec, nsec}. */
    public static void timerfdSettime(int fd, int flags, long[] its) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(32).copyFrom(MemorySegment.ofArray(its));
            Native.check(Native.raw(TIMERFD_SETTIME, fd, flags, s.address(), 0), "timerfd_settime(fd " + fd + ", flags " + flags + ")");
        }
    }

    /** timerfd_gettime(2): {interval sec, nsec, value sec, nsec}, the value relative to now. */
    public static long[] timerfdGettime(int fd) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(32);
            Native.check(Native.raw(TIMERFD_GETTIME, fd, s.address()), "timerfd_gettime(fd " + fd + ")");
            return s.toArray(JAVA_LONG);
        }
    }

    /** ioctl(TFD_IOC_SET_TICKS): expirations not read yet (fs/timerfd.c timerfd_ioctl). */
    public static void timerfdSetTicks(int fd, long ticks) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(8);
            s.set(JAVA_LONG, 0, ticks);
            Native.check(Native.raw(Nr.IOCTL, fd, TFD_IOC_SET_TICKS, s.address()), "ioctl(fd " + fd + ", TFD_IOC_SET_TICKS, " + ticks + ")");
        }
    }

    /** signalfd4(-1, mask, 8, flags): a new signalfd, close-on-exec in cryo; flags: SFD_NONBLOCK. */
    public static int signalfd(long mask, int flags) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(8);
            s.set(JAVA_LONG, 0, mask);
            return (int) Native.check(Native.raw(SIGNALFD4, -1, s.address(), 8, flags | O_CLOEXEC),
                    "signalfd4(mask 0x" + Long.toHexString(mask) + ", 0" + Integer.toOctalString(flags) + ")");
        }
    }
}
