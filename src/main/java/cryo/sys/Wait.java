package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/** wait4(2) for one pid, with __WALL so that tracees which are not our children are seen too. */
public final class Wait {
    public static final int WNOHANG = 1, WUNTRACED = 2, WALL = 0x40000000;
    private static final ThreadLocal<MemorySegment> STATUS = ThreadLocal.withInitial(() -> Arena.global().allocate(JAVA_INT));

    private Wait() {
    }

    /** waitpid(pid, WNOHANG|__WALL): null when nothing has happened yet. */
    public static WaitStatus poll(int pid) throws SysException {
        MemorySegment st = STATUS.get();
        long r = Native.check(Native.raw(Nr.WAIT4, pid, st.address(), WNOHANG | WALL, 0), "waitpid(" + pid + ")");
        return r == 0 ? null : new WaitStatus((int) r, st.get(JAVA_INT, 0));
    }

    /**
     * Waits for the next state change of pid, at most timeoutMillis. Polls so that a task which never stops
     * (stuck in an uninterruptible sleep) gives an error instead of hanging cryo: it spins briefly first,
     * since a remote syscall usually completes within microseconds.
     */
    public static WaitStatus waitFor(int pid, long timeoutMillis) throws SysException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        long backoff = 2_000;
        for (int spin = 0; ; spin++) {
            WaitStatus s = poll(pid);
            if (s != null) {
                return s;
            }
            if (System.nanoTime() > deadline) {
                throw new SysException("waitpid(" + pid + ") gave no state change within " + timeoutMillis + " ms", Errno.EAGAIN);
            }
            if (spin < 200) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(backoff);
                backoff = Math.min(backoff * 2, 1_000_000);
            }
        }
    }

    /** Blocking waitpid(pid, 0): for children that run on their own (the restored root in the foreground). */
    public static WaitStatus blocking(int pid) throws SysException {
        return blocking(pid, 0);
    }

    /** Blocking waitpid(pid, flags): WUNTRACED also reports a stop of a child that is not traced. */
    public static WaitStatus blocking(int pid, int flags) throws SysException {
        MemorySegment st = STATUS.get();
        while (true) {
            long r = Native.raw(Nr.WAIT4, pid, st.address(), WALL | flags, 0);
            if (r == -Errno.EINTR) continue;
            Native.check(r, "waitpid(" + pid + ")");
            return new WaitStatus((int) r, st.get(JAVA_INT, 0));
        }
    }
}
