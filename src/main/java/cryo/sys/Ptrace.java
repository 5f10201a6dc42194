package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * ptrace(2), one typed method per request. The kernel ties a tracee to the thread that attached it:
 * every call for one tracee must come from the same OS thread (see cryo.task.Tracer).
 */
public final class Ptrace {
    private static final int PEEKSIGINFO_SHARED = 1;
    private static final int TRACEME = 0, CONT = 7, DETACH = 17, SYSCALL = 24, GETREGS = 12, SETREGS = 13,
            SETOPTIONS = 0x4200, GETEVENTMSG = 0x4201, GETSIGINFO = 0x4202, GETREGSET = 0x4204,
            SETREGSET = 0x4205, SEIZE = 0x4206, INTERRUPT = 0x4207, PEEKSIGINFO = 0x4209,
            GETSIGMASK = 0x420a, SETSIGMASK = 0x420b, GET_RSEQ_CONFIGURATION = 0x420f;
    public static final int O_TRACESYSGOOD = 1, O_TRACEFORK = 2, O_TRACEVFORK = 4, O_TRACECLONE = 8,
            O_EXITKILL = 0x100000;
    public static final int EVENT_FORK = 1, EVENT_VFORK = 2, EVENT_CLONE = 3, EVENT_EXIT = 6, EVENT_STOP = 128;
    public static final int NT_X86_XSTATE = 0x202;
    public static final int SIGINFO_SIZE = 128;
    private static final int XSTATE_MAX = 16384;

    private static final ThreadLocal<MemorySegment> BUF = ThreadLocal.withInitial(() -> Arena.global().allocate(XSTATE_MAX + 64, 64));

    private Ptrace() {
    }

    private static long call(int req, int pid, long addr, long data, String what) throws SysException {
        return Native.check(Native.raw(Nr.PTRACE, req, pid, addr, data), what + " on task " + pid);
    }

    public static void seize(int pid, int options) throws SysException {
        call(SEIZE, pid, 0, options, "ptrace(PTRACE_SEIZE)");
    }

    public static void interrupt(int pid) throws SysException {
        call(INTERRUPT, pid, 0, 0, "ptrace(PTRACE_INTERRUPT)");
    }

    public static void setOptions(int pid, int options) throws SysException {
        call(SETOPTIONS, pid, 0, options, "ptrace(PTRACE_SETOPTIONS)");
    }

    /** Resumes the tracee, delivering signal sig (0 for none). */
    public static void cont(int pid, int sig) throws SysException {
        call(CONT, pid, 0, sig, "ptrace(PTRACE_CONT)");
    }

    /** Resumes the tracee up to its next syscall entry or exit. */
    public static void syscall(int pid, int sig) throws SysException {
        call(SYSCALL, pid, 0, sig, "ptrace(PTRACE_SYSCALL)");
    }

    public static void detach(int pid, int sig) throws SysException {
        call(DETACH, pid, 0, sig, "ptrace(PTRACE_DETACH)");
    }

    public static long eventMsg(int pid) throws SysException {
        MemorySegment b = BUF.get();
        call(GETEVENTMSG, pid, 0, b.address(), "ptrace(PTRACE_GETEVENTMSG)");
        return b.get(JAVA_LONG, 0);
    }

    public static Regs getRegs(int pid) throws SysException {
        MemorySegment b = BUF.get();
        call(GETREGS, pid, 0, b.address(), "ptrace(PTRACE_GETREGS)");
        return new Regs(b.asSlice(0, Regs.COUNT * 8L).toArray(JAVA_LONG));
    }

    public static void setRegs(int pid, Regs regs) throws SysException {
        MemorySegment b = BUF.get();
        MemorySegment.copy(regs.words(), 0, b, JAVA_LONG, 0, Regs.COUNT);
        call(SETREGS, pid, 0, b.address(), "ptrace(PTRACE_SETREGS)");
    }

    /** The XSAVE area (FPU, SSE, AVX...) as the kernel reports it; its length is the kernel's xstate size. */
    public static byte[] getXstate(int pid) throws SysException {
        MemorySegment b = BUF.get();
        MemorySegment iov = b.asSlice(XSTATE_MAX, 16);
        iov.set(JAVA_LONG, 0, b.address());
        iov.set(JAVA_LONG, 8, XSTATE_MAX);
        call(GETREGSET, pid, NT_X86_XSTATE, iov.address(), "ptrace(PTRACE_GETREGSET, NT_X86_XSTATE)");
        long len = iov.get(JAVA_LONG, 8);
        return b.asSlice(0, len).toArray(JAVA_BYTE);
    }

    public static void setXstate(int pid, byte[] xstate) throws SysException {
        MemorySegment b = BUF.get();
        MemorySegment.copy(xstate, 0, b, JAVA_BYTE, 0, xstate.length);
        MemorySegment iov = b.asSlice(XSTATE_MAX, 16);
        iov.set(JAVA_LONG, 0, b.address());
        iov.set(JAVA_LONG, 8, xstate.length);
        call(SETREGSET, pid, NT_X86_XSTATE, iov.address(), "ptrace(PTRACE_SETREGSET, NT_X86_XSTATE)");
    }

    public static long getSigmask(int pid) throws SysException {
        MemorySegment b = BUF.get();
        call(GETSIGMASK, pid, 8, b.address(), "ptrace(PTRACE_GETSIGMASK)");
        return b.get(JAVA_LONG, 0);
    }

    public static void setSigmask(int pid, long mask) throws SysException {
        MemorySegment b = BUF.get();
        b.set(JAVA_LONG, 0, mask);
        call(SETSIGMASK, pid, 8, b.address(), "ptrace(PTRACE_SETSIGMASK)");
    }

    /** The siginfo of the signal that caused the current signal-delivery-stop. */
    public static byte[] getSiginfo(int pid) throws SysException {
        MemorySegment b = BUF.get();
        call(GETSIGINFO, pid, 0, b.address(), "ptrace(PTRACE_GETSIGINFO)");
        return b.asSlice(0, SIGINFO_SIZE).toArray(JAVA_BYTE);
    }

    /** Every queued signal of the thread (or of the thread group with shared=true), without dequeuing them. */
    public static List<byte[]> peekSiginfo(int pid, boolean shared) throws SysException {
        List<byte[]> out = new ArrayList<>();
        MemorySegment b = BUF.get();
        MemorySegment args = b.asSlice(XSTATE_MAX, 16);
        int batch = XSTATE_MAX / SIGINFO_SIZE;
        while (true) {
            args.set(JAVA_LONG, 0, out.size());
            args.set(JAVA_INT, 8, shared ? PEEKSIGINFO_SHARED : 0);
            args.set(JAVA_INT, 12, batch);
            long n = call(PEEKSIGINFO, pid, args.address(), b.address(), "ptrace(PTRACE_PEEKSIGINFO)");
            for (int i = 0; i < n; i++) {
                out.add(b.asSlice((long) i * SIGINFO_SIZE, SIGINFO_SIZE).toArray(JAVA_BYTE));
            }
            if (n < batch) return out;
        }
    }

    /** rseq registration of a thread: pointer, size, signature (0 pointer when none). */
    public record RseqConfig(long pointer, int size, int signature) {
    }

    public static RseqConfig rseqConfig(int pid) throws SysException {
        MemorySegment b = BUF.get();
        b.asSlice(0, 24).fill((byte) 0);
        call(GET_RSEQ_CONFIGURATION, pid, 24, b.address(), "ptrace(PTRACE_GET_RSEQ_CONFIGURATION)");
        return new RseqConfig(b.get(JAVA_LONG, 0), b.get(JAVA_INT, 8), b.get(JAVA_INT, 12));
    }

    private static final int LISTEN = 0x4208;

    /** PTRACE_LISTEN: a tracee in a group-stop (seized) stays stopped but can be woken by SIGCONT again. */
    public static void listen(int pid) throws SysException {
        call(LISTEN, pid, 0, 0, "ptrace(PTRACE_LISTEN)");
    }
}
