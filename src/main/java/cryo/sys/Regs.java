package cryo.sys;

import java.util.Arrays;

/** x86_64 struct user_regs_struct (arch/x86/include/asm/user_64.h): 27 words in kernel order. */
public final class Regs {
    public static final int R15 = 0, R14 = 1, R13 = 2, R12 = 3, RBP = 4, RBX = 5, R11 = 6, R10 = 7, R9 = 8,
            R8 = 9, RAX = 10, RCX = 11, RDX = 12, RSI = 13, RDI = 14, ORIG_RAX = 15, RIP = 16, CS = 17,
            EFLAGS = 18, RSP = 19, SS = 20, FS_BASE = 21, GS_BASE = 22, DS = 23, ES = 24, FS = 25, GS = 26;
    public static final int COUNT = 27;
    public static final String[] NAMES = {"r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
            "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base",
            "gs_base", "ds", "es", "fs", "gs"};

    private final long[] w;

    public Regs(long[] words) {
        if (words.length != COUNT) {
            throw new IllegalArgumentException("user_regs_struct has " + COUNT + " words, not " + words.length);
        }
        this.w = words.clone();
    }

    public long get(int i) {
        return w[i];
    }

    public Regs set(int i, long v) {
        w[i] = v;
        return this;
    }

    public long[] words() {
        return w.clone();
    }

    public Regs copy() {
        return new Regs(w);
    }

    public long rip() {
        return w[RIP];
    }

    public long rax() {
        return w[RAX];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Regs r && Arrays.equals(w, r.w);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(w);
    }
}
