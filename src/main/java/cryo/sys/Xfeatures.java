package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** The XSAVE state components this kernel lets user space use on this CPU (arch_prctl(2) ARCH_GET_XCOMP_SUPP). */
public final class Xfeatures {
    private static final int ARCH_GET_XCOMP_SUPP = 0x1021;

    private Xfeatures() {
    }

    /** The mask of supported xfeatures: XCR0 as the kernel exposes it (arch/x86/kernel/fpu/xstate.c). */
    public static long supported() throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_LONG);
            Native.check(Native.raw(Nr.ARCH_PRCTL, ARCH_GET_XCOMP_SUPP, out.address()), "arch_prctl(ARCH_GET_XCOMP_SUPP)");
            return out.get(JAVA_LONG, 0);
        }
    }
}
