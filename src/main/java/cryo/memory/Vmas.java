package cryo.memory;

/** Address-space constants of x86_64 with 4-level paging (arch/x86/include/asm/page_64_types.h). */
public final class Vmas {
    /** TASK_SIZE_MAX: the end of user space. */
    public static final long TASK_SIZE = 0x7ffffffff000L;
    public static final long PAGE = 4096;

    private Vmas() {
    }

    public static String hex(long a) {
        return "0x" + Long.toHexString(a);
    }
}
