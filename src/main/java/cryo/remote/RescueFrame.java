package cryo.remote;

import cryo.sys.Regs;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * An x86_64 signal frame (struct rt_sigframe, arch/x86/include/asm/sigframe.h) holding a thread's own
 * context: the registers it resumes with, its XSAVE area and its blocked mask. A thread whose tracer dies
 * while cryo borrows its registers runs `mov $15, %eax; syscall` with rsp = frame + 8: rt_sigreturn
 * (arch/x86/kernel/signal_64.c) loads all of it back at once, and the thread goes on exactly where it was.
 *
 * Layout: pretcode (8), struct ucontext at 8 (uc_flags, uc_link, uc_stack at 24, uc_mcontext at 48 (struct
 * sigcontext, 256 bytes), uc_sigmask at 304), siginfo at 312 (128), then the XSAVE area, 64-byte aligned (XRSTOR
 * faults otherwise), followed by FP_XSTATE_MAGIC2.
 */
public final class RescueFrame {
    private static final int UC_FLAGS = 8, UC_STACK = 24, MCONTEXT = 48, SIGMASK = 304, FRAME_END = 440;
    /** UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS (arch/x86/include/uapi/asm/ucontext.h). */
    private static final long UC_FLAGS_VALUE = 0x1 | 0x2 | 0x4;
    private static final int FP_XSTATE_MAGIC1 = 0x46505853, FP_XSTATE_MAGIC2 = 0x46505845;
    /** struct _fpx_sw_bytes: in the XSAVE legacy area's software-reserved bytes (arch/x86/include/uapi/asm/sigcontext.h). */
    private static final int SW_RESERVED = 464;
    /**
     * An ss_flags value that is neither 0, SS_ONSTACK nor SS_DISABLE: restore_altstack() (kernel/signal.c) then
     * gets EINVAL from do_sigaltstack(), which it ignores, and the thread's sigaltstack is left as it is.
     */
    static final int SS_FLAGS_INVALID = 0x40;
    /** sigcontext word order: r8..r15, di, si, bp, bx, dx, ax, cx, sp, ip, flags. */
    private static final int[] SIGCONTEXT_ORDER = {Regs.R8, Regs.R9, Regs.R10, Regs.R11, Regs.R12, Regs.R13, Regs.R14,
            Regs.R15, Regs.RDI, Regs.RSI, Regs.RBP, Regs.RBX, Regs.RDX, Regs.RAX, Regs.RCX, Regs.RSP, Regs.RIP, Regs.EFLAGS};

    private RescueFrame() {
    }

    /** Bytes a frame takes with an XSAVE area of xstateLen bytes, from a 64-byte aligned start. */
    public static int size(int xstateLen) {
        return fpOffset() + xstateLen + 4;
    }

    /** Offset of the XSAVE area in the frame: the first multiple of 64 past the frame proper. */
    private static int fpOffset() {
        return (FRAME_END + 63) & ~63;
    }

    /** Moves a frame built at offset `at` (build(at, ...)) to at + base: the fpstate pointer is its only address. */
    public static void relocate(java.lang.foreign.MemorySegment frame, long base) {
        long fp = frame.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, MCONTEXT + 184);
        frame.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, MCONTEXT + 184, fp + base);
    }

    /**
     * The frame for a thread that resumes with regs (orig_rax -1, any syscall restart already applied: the
     * kernel restarts nothing after rt_sigreturn), its XSAVE area as PTRACE_GETREGSET NT_X86_XSTATE gives it
     * and its blocked mask; placed at addr (64-byte aligned), or at addr + base after relocate(frame, base).
     */
    public static byte[] build(long addr, Regs regs, byte[] xstate, long sigmask) {
        if ((addr & 63) != 0) throw new IllegalArgumentException("signal frame at 0x" + Long.toHexString(addr) + " is not 64-byte aligned");
        ByteBuffer b = ByteBuffer.allocate(size(xstate.length)).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(UC_FLAGS, UC_FLAGS_VALUE);
        b.putInt(UC_STACK + 8, SS_FLAGS_INVALID);
        for (int i = 0; i < SIGCONTEXT_ORDER.length; i++) b.putLong(MCONTEXT + 8 * i, regs.get(SIGCONTEXT_ORDER[i]));
        b.putShort(MCONTEXT + 144, (short) regs.get(Regs.CS));
        b.putShort(MCONTEXT + 146, (short) regs.get(Regs.GS));
        b.putShort(MCONTEXT + 148, (short) regs.get(Regs.FS));
        b.putShort(MCONTEXT + 150, (short) regs.get(Regs.SS));
        b.putLong(MCONTEXT + 184, addr + fpOffset());
        b.putLong(SIGMASK, sigmask);
        b.put(fpOffset(), xstate);
        // check_xstate_in_sigframe() (arch/x86/kernel/fpu/signal.c) takes the extended state only with struct
        // _fpx_sw_bytes filled in and FP_XSTATE_MAGIC2 after the area. The regset does not give them: ptrace puts
        // XCR0 in the first word of sw_reserved instead (USER_XSTATE_XCR0_WORD, arch/x86/include/asm/user.h).
        long xcr0 = ByteBuffer.wrap(xstate).order(ByteOrder.LITTLE_ENDIAN).getLong(SW_RESERVED);
        int xstateSize = xstate.length;
        if (xstateSize < 576 || (xcr0 & 3) != 3) {
            throw new IllegalArgumentException("XSAVE area of " + xstate.length + " bytes, XCR0 0x" + Long.toHexString(xcr0) + ": not one a signal frame can hold");
        }
        int sw = fpOffset() + SW_RESERVED;
        for (int i = 0; i < 48; i++) b.put(sw + i, (byte) 0);
        b.putInt(sw, FP_XSTATE_MAGIC1);
        b.putInt(sw + 4, xstateSize + 4);   // extended_size: the area and MAGIC2
        b.putLong(sw + 8, xcr0);            // xfeatures
        b.putInt(sw + 16, xstateSize);
        b.putInt(fpOffset() + xstateSize, FP_XSTATE_MAGIC2);
        return b.array();
    }
}
