package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The one door to the kernel: libc's syscall(2) by arity, with errno captured per call.
 * Typed wrappers (Ptrace, ProcessVm, ...) are built on it; nothing outside this package calls it.
 */
final class Native {
    static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = STATE.varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
    private static final ThreadLocal<MemorySegment> STATE_SEG =
            ThreadLocal.withInitial(() -> Arena.global().allocate(STATE));
    /**
     * syscall(nr, a..f): one handle for every call, since each handle costs start-up time to link. It is
     * bound as a plain function of seven longs, not as the variadic function it is declared as: on x86_64
     * the two conventions differ only in %al (the count of vector registers), which glibc's syscall
     * (sysdeps/unix/sysv/linux/x86_64/syscall.S) never reads, and the variadic binding costs ~15 ms more
     * to link at start-up.
     */
    private static final MethodHandle SYSCALL = LINKER.downcallHandle(
            LINKER.defaultLookup().find("syscall").orElseThrow(),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG),
            Linker.Option.captureCallState("errno"));

    private Native() {
    }

    /** A libc function that sets errno, bound with errno capture. */
    static MethodHandle libc(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), fd,
                Linker.Option.captureCallState("errno"));
    }

    static MemorySegment state() {
        return STATE_SEG.get();
    }

    static int errno() {
        return (int) ERRNO.get(STATE_SEG.get(), 0L);
    }

    /** Raw syscall; returns the result, or -errno on failure. */
    static long raw(long nr, long a, long b, long c, long d, long e, long f) {
        try {
            long r = (long) SYSCALL.invokeExact(STATE_SEG.get(), nr, a, b, c, d, e, f);
            return r == -1 ? -errno() : r;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static long raw(long nr, long a, long b, long c, long d, long e) {
        return raw(nr, a, b, c, d, e, 0);
    }

    static long raw(long nr, long a, long b, long c, long d) {
        return raw(nr, a, b, c, d, 0, 0);
    }

    static long raw(long nr, long a, long b, long c) {
        return raw(nr, a, b, c, 0, 0, 0);
    }

    static long raw(long nr, long a, long b) {
        return raw(nr, a, b, 0, 0, 0, 0);
    }

    static long raw(long nr, long a) {
        return raw(nr, a, 0, 0, 0, 0, 0);
    }

    /** Throws SysException naming {@code what} when r is a negative errno. */
    static long check(long r, String what) throws SysException {
        if (r < 0 && r > -4096) {
            throw new SysException(what, (int) -r);
        }
        return r;
    }
}
