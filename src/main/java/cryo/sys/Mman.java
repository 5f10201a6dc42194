package cryo.sys;

/** Mappings in cryo's own address space (mmap(2), munmap(2)), for shared memory objects cryo fills or reads. */
public final class Mman {
    public static final int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;

    private Mman() {
    }

    /** mmap(NULL, len, prot, flags, fd, off); what names the object in errors. */
    public static long mmap(long len, int prot, int flags, int fd, long off, String what) throws SysException {
        return Native.check(Native.raw(Nr.MMAP, 0, len, prot, flags, fd, off), "mmap(" + what + ", " + len + " bytes)");
    }

    public static void munmap(long addr, long len) {
        Native.raw(Nr.MUNMAP, addr, len);
    }
}
