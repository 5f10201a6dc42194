package cryo.sys;

/** setpriority(2) on the calling thread (Linux: a nice value per thread, PRIO_PROCESS with its tid). */
public final class Sched {
    private static final int PRIO_PROCESS = 0, NR_SETPRIORITY = 141;

    private Sched() {
    }

    /** setpriority of the calling thread (nice 0..19: higher yields the CPU to the others, and to other processes). */
    public static void setpriority(int nice) throws SysException {
        long tid = Native.raw(Nr.GETTID, 0);
        Native.check(Native.raw(NR_SETPRIORITY, PRIO_PROCESS, tid, nice), "setpriority(PRIO_PROCESS, thread " + tid + ", " + nice + ")");
    }
}
