package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** Process-directed calls cryo makes on its own behalf: signals, limits, robust lists, kcmp, pidfd. */
public final class Proc {
    public static final int SIGKILL = 9, SIGCHLD = 17, SIGCONT = 18, SIGSTOP = 19;
    public static final int KCMP_FILE = 0, KCMP_FILES = 2;

    private Proc() {
    }

    public static void kill(int pid, int sig) throws SysException {
        Native.check(Native.raw(Nr.KILL, pid, sig), "kill(" + pid + ", " + sig + ")");
    }

    public static void tgkill(int tgid, int tid, int sig) throws SysException {
        Native.check(Native.raw(Nr.TGKILL, tgid, tid, sig), "tgkill(" + tgid + ", " + tid + ", " + sig + ")");
    }

    /**
     * Stops the whole process (every JVM thread) with a stop signal (SIGSTOP, or SIGTSTP/SIGTTIN/SIGTTOU, which
     * the JVM leaves at their default action) and returns once it is continued by SIGCONT. Sent to the calling
     * thread itself, it starts the group stop before the call returns to user space (kernel/signal.c
     * do_signal_stop()); the parent sees the process stopped by that signal, as a shell does its job. The
     * kernel discards the last three in an orphaned process group: then this returns at once.
     */
    public static void stopSelf(int signal) throws SysException {
        int tid = (int) Native.raw(Nr.GETTID, 0);
        tgkill(getpid(), tid, signal);
    }

    /** setns(2): moves the calling thread into the namespace fd refers to. */
    public static void setns(int fd, int nstype) throws SysException {
        Native.check(Native.raw(Nr.SETNS, fd, nstype), "setns(" + fd + ", 0x" + Integer.toHexString(nstype) + ")");
    }

    /** unshare(2): gives the calling thread new namespaces of the kinds in flags (CLONE_NEWNET may be one thread's). */
    public static void unshare(int flags) throws SysException {
        Native.check(Native.raw(Nr.UNSHARE, flags), "unshare(0x" + Integer.toHexString(flags) + ")");
    }

    /** mincore(2): one byte per page of [addr, addr+len), bit 0 set when the page is resident. */
    public static byte[] mincore(long addr, long len) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment vec = a.allocate((len + 4095) / 4096);
            Native.check(Native.raw(Nr.MINCORE, addr, len, vec.address()), "mincore(0x" + Long.toHexString(addr) + ")");
            return vec.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        }
    }

    /** getsid(0): cryo's own session. */
    public static int getsid() {
        return (int) Native.raw(Nr.GETSID, 0);
    }

    public static int getpid() {
        return (int) Native.raw(Nr.GETPID, 0);
    }

    /**
     * Links the native call (Native's class initialisation, ~50 ms in a fresh JVM), and posix_spawn's when
     * spawnToo (a restart's: a few ms more), on a thread of its own,
     * so that it overlaps whatever the caller does first without the kernel (parsing arguments, reading an
     * image); the first real call waits for it to finish if need be (JLS 12.4.2).
     */
    public static void linkInBackground(boolean spawnToo) {
        Thread.ofPlatform().name("cryo-link").daemon().start(() -> {
            getpid();
            if (spawnToo) Spawn.link();
        });
    }

    /** prlimit64(pid, resource): {soft, hard}. */
    public static long[] getRlimit(int pid, int resource) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment old = a.allocate(16);
            Native.check(Native.raw(Nr.PRLIMIT64, pid, resource, 0, old.address()), "prlimit64(" + pid + ", " + resource + ")");
            return new long[]{old.get(JAVA_LONG, 0), old.get(JAVA_LONG, 8)};
        }
    }

    public static void setRlimit(int pid, int resource, long soft, long hard) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment lim = a.allocate(16);
            lim.set(JAVA_LONG, 0, soft);
            lim.set(JAVA_LONG, 8, hard);
            Native.check(Native.raw(Nr.PRLIMIT64, pid, resource, lim.address(), 0), "prlimit64(" + pid + ", " + resource + ", set)");
        }
    }

    /** prctl(PR_GET_SECUREBITS) of cryo itself (a task it creates starts with them). */
    public static int securebits() throws SysException {
        return (int) Native.check(Native.raw(Nr.PRCTL, 27, 0, 0, 0, 0), "prctl(PR_GET_SECUREBITS)");
    }

    /** get_robust_list(tid): {head, len}. */
    public static long[] getRobustList(int tid) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment head = a.allocate(8), len = a.allocate(8);
            Native.check(Native.raw(Nr.GET_ROBUST_LIST, tid, head.address(), len.address()), "get_robust_list(" + tid + ")");
            return new long[]{head.get(JAVA_LONG, 0), len.get(JAVA_LONG, 0)};
        }
    }

    /** kcmp(KCMP_FILE): true when fd1 of pid1 and fd2 of pid2 are the same open file description. */
    public static boolean sameFile(int pid1, int fd1, int pid2, int fd2) throws SysException {
        long r = Native.check(Native.raw(Nr.KCMP, pid1, pid2, KCMP_FILE, fd1, fd2),
                "kcmp(" + pid1 + ", " + pid2 + ", KCMP_FILE, " + fd1 + ", " + fd2 + ")");
        return r == 0;
    }

    /** kcmp(KCMP_FILES): true when pid1 and pid2 use one fd table (clone(2) CLONE_FILES). */
    public static boolean sameFdTable(int pid1, int pid2) throws SysException {
        return Native.check(Native.raw(Nr.KCMP, pid1, pid2, KCMP_FILES, 0, 0), "kcmp(" + pid1 + ", " + pid2 + ", KCMP_FILES)") == 0;
    }

    public static int pidfdOpen(int pid) throws SysException {
        return (int) Native.check(Native.raw(Nr.PIDFD_OPEN, pid, 0), "pidfd_open(" + pid + ")");
    }

    /**
     * pidfd_getfd(2): a duplicate in cryo (close-on-exec) of fd of the process pid, the same open file
     * description: inspecting it through the duplicate changes nothing in the task.
     */
    public static int pidfdGetfd(int pid, int fd) throws SysException {
        int pidfd = pidfdOpen(pid);
        try {
            return (int) Native.check(Native.raw(Nr.PIDFD_GETFD, pidfd, fd, 0), "pidfd_getfd(" + pid + ", fd " + fd + ")");
        } finally {
            Fd.close(pidfd);
        }
    }

    /** uname(2) release string. */
    public static String kernelRelease() throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment u = a.allocate(65 * 6);
            Native.check(Native.raw(Nr.UNAME, u.address()), "uname");
            return u.getString(65 * 2);
        }
    }

    /** setsid(2): the calling process leads a new session without a controlling terminal. */
    public static void setsid() throws SysException {
        Native.check(Native.raw(Nr.SETSID, 0), "setsid");
    }
}
