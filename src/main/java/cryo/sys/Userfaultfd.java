package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * userfaultfd(2) ioctls (include/uapi/linux/userfaultfd.h, Documentation/admin-guide/mm/userfaultfd.rst).
 * A userfaultfd belongs to the address space of the task that created it (the syscall binds current->mm),
 * so cryo makes one inside a task by a remote syscall and takes it with pidfd_getfd; every ioctl below then
 * acts on that task's memory from cryo (the context holds the mm, not the caller's).
 */
public final class Userfaultfd {
    /** userfaultfd(2) flags. */
    public static final int O_CLOEXEC = 0x80000, O_NONBLOCK = 0x800, UFFD_USER_MODE_ONLY = 1;

    // UFFDIO_API features.
    public static final long FEATURE_PAGEFAULT_FLAG_WP = 1, FEATURE_EVENT_FORK = 1 << 1, FEATURE_EVENT_REMAP = 1 << 2,
            FEATURE_EVENT_REMOVE = 1 << 3, FEATURE_MISSING_SHMEM = 1 << 5, FEATURE_EVENT_UNMAP = 1 << 6,
            FEATURE_SIGBUS = 1 << 7, FEATURE_THREAD_ID = 1 << 8, FEATURE_EXACT_ADDRESS = 1 << 11,
            FEATURE_WP_UNPOPULATED = 1 << 13, FEATURE_WP_ASYNC = 1 << 15, FEATURE_MOVE = 1 << 16;

    // UFFDIO_REGISTER modes.
    public static final long REGISTER_MODE_MISSING = 1, REGISTER_MODE_WP = 2, REGISTER_MODE_MINOR = 4;
    // UFFDIO_COPY / UFFDIO_ZEROPAGE / UFFDIO_WRITEPROTECT modes.
    public static final long COPY_MODE_DONTWAKE = 1, COPY_MODE_WP = 2, ZEROPAGE_MODE_DONTWAKE = 1,
            WRITEPROTECT_MODE_WP = 1, WRITEPROTECT_MODE_DONTWAKE = 2;

    // struct uffd_msg events and page-fault flags.
    public static final int EVENT_PAGEFAULT = 0x12, EVENT_FORK = 0x13, EVENT_REMAP = 0x14, EVENT_REMOVE = 0x15,
            EVENT_UNMAP = 0x16;
    public static final long PAGEFAULT_FLAG_WRITE = 1, PAGEFAULT_FLAG_WP = 2, PAGEFAULT_FLAG_MINOR = 4;
    /** sizeof(struct uffd_msg). */
    public static final int MSG_SIZE = 32;

    private static final long UFFD_API = 0xAA;
    // _IOWR/_IOR(0xAA, nr, struct ...)
    private static final long UFFDIO_API = 0xC018AA3FL, UFFDIO_REGISTER = 0xC020AA00L, UFFDIO_UNREGISTER = 0x8010AA01L,
            UFFDIO_WAKE = 0x8010AA02L, UFFDIO_COPY = 0xC028AA03L, UFFDIO_ZEROPAGE = 0xC020AA04L,
            UFFDIO_WRITEPROTECT = 0xC018AA06L;

    private static final ThreadLocal<MemorySegment> ARG = ThreadLocal.withInitial(() -> Arena.global().allocate(64, 8));

    private Userfaultfd() {
    }

    private static MemorySegment arg() {
        MemorySegment a = ARG.get();
        a.fill((byte) 0);
        return a;
    }

    /** UFFDIO_API: enables the features; returns the ioctls the fd then supports (a bit per _IOC_NR). */
    public static long api(int uffd, long features) throws SysException {
        MemorySegment a = arg();
        a.set(JAVA_LONG, 0, UFFD_API);
        a.set(JAVA_LONG, 8, features);
        Native.check(Native.raw(Nr.IOCTL, uffd, UFFDIO_API, a.address()), "ioctl(UFFDIO_API, features 0x" + Long.toHexString(features) + ")");
        return a.get(JAVA_LONG, 16);
    }

    /** The features this kernel offers: UFFDIO_API with none asked, on a throw-away userfaultfd of cryo's own. */
    public static long available() throws SysException {
        int fd = (int) Native.check(Native.raw(Nr.USERFAULTFD, O_CLOEXEC), "userfaultfd");
        try {
            MemorySegment a = arg();
            a.set(JAVA_LONG, 0, UFFD_API);
            Native.check(Native.raw(Nr.IOCTL, fd, UFFDIO_API, a.address()), "ioctl(UFFDIO_API)");
            return a.get(JAVA_LONG, 8);
        } finally {
            Fd.close(fd);
        }
    }

    /** UFFDIO_REGISTER of [start, start+len) with the given modes; returns the ioctls allowed on the range. */
    public static long register(int uffd, long start, long len, long mode) throws SysException {
        MemorySegment a = arg();
        a.set(JAVA_LONG, 0, start);
        a.set(JAVA_LONG, 8, len);
        a.set(JAVA_LONG, 16, mode);
        Native.check(Native.raw(Nr.IOCTL, uffd, UFFDIO_REGISTER, a.address()), "ioctl(UFFDIO_REGISTER, " + range(start, len) + ")");
        return a.get(JAVA_LONG, 24);
    }

    public static void unregister(int uffd, long start, long len) throws SysException {
        ranged(uffd, UFFDIO_UNREGISTER, start, len, "UFFDIO_UNREGISTER");
    }

    /** UFFDIO_WAKE: wakes the threads waiting on faults in the range (after copies made with DONTWAKE). */
    public static void wake(int uffd, long start, long len) throws SysException {
        ranged(uffd, UFFDIO_WAKE, start, len, "UFFDIO_WAKE");
    }

    private static void ranged(int uffd, long request, long start, long len, String name) throws SysException {
        MemorySegment a = arg();
        a.set(JAVA_LONG, 0, start);
        a.set(JAVA_LONG, 8, len);
        Native.check(Native.raw(Nr.IOCTL, uffd, request, a.address()), "ioctl(" + name + ", " + range(start, len) + ")");
    }

    /**
     * UFFDIO_COPY of len bytes at src (cryo's memory) to dst (the task's, missing pages of a registered
     * range). Returns the bytes copied, or -errno for the outcomes a server expects and handles: -EEXIST (a
     * page of the range is there already: filled before, or the range was zapped and refilled), -EAGAIN
     * (the address space was changing: a fork, mremap or unmap event is pending; read it, then retry),
     * -ENOENT (no registered VMA there any more), -ESRCH (the task's mm is gone). Bytes may be copied before
     * such an error: the return is then the count (a partial copy), never both.
     */
    public static long copy(int uffd, long dst, long src, long len, long mode) throws SysException {
        MemorySegment a = arg();
        a.set(JAVA_LONG, 0, dst);
        a.set(JAVA_LONG, 8, src);
        a.set(JAVA_LONG, 16, len);
        a.set(JAVA_LONG, 24, mode);
        long r = Native.raw(Nr.IOCTL, uffd, UFFDIO_COPY, a.address());
        return outcome(r, a.get(JAVA_LONG, 32), len, "UFFDIO_COPY", dst);
    }

    /** UFFDIO_ZEROPAGE: maps zero pages on missing pages of the range; same returns as copy(). */
    public static long zeropage(int uffd, long start, long len, long mode) throws SysException {
        MemorySegment a = arg();
        a.set(JAVA_LONG, 0, start);
        a.set(JAVA_LONG, 8, len);
        a.set(JAVA_LONG, 16, mode);
        long r = Native.raw(Nr.IOCTL, uffd, UFFDIO_ZEROPAGE, a.address());
        return outcome(r, a.get(JAVA_LONG, 24), len, "UFFDIO_ZEROPAGE", start);
    }

    /** copy()'s return from the ioctl's result r and the count the kernel wrote back (done). */
    private static long outcome(long r, long done, long len, String name, long start) throws SysException {
        if (r >= 0) return done > 0 ? done : len;
        if (done > 0) return done;
        int errno = (int) -r;
        if (errno == Errno.EEXIST || errno == Errno.EAGAIN || errno == Errno.ENOENT || errno == Errno.ESRCH) return r;
        throw new SysException("ioctl(" + name + ", " + range(start, len) + ")", errno);
    }

    /** UFFDIO_WRITEPROTECT: protects (wp) or unprotects the range, registered with REGISTER_MODE_WP. */
    public static void writeProtect(int uffd, long start, long len, boolean wp, boolean dontWake) throws SysException {
        MemorySegment a = arg();
        a.set(JAVA_LONG, 0, start);
        a.set(JAVA_LONG, 8, len);
        a.set(JAVA_LONG, 16, (wp ? WRITEPROTECT_MODE_WP : 0) | (dontWake ? WRITEPROTECT_MODE_DONTWAKE : 0));
        Native.check(Native.raw(Nr.IOCTL, uffd, UFFDIO_WRITEPROTECT, a.address()),
                "ioctl(UFFDIO_WRITEPROTECT, " + range(start, len) + (wp ? ", protect)" : ", unprotect)"));
    }

    /**
     * Reads whole struct uffd_msg into buf (a multiple of MSG_SIZE); returns how many, 0 when none is
     * queued (a non-blocking fd). Decode them with event(), faultAddress() etc. at MSG_SIZE * i.
     */
    public static int read(int uffd, MemorySegment buf) throws SysException {
        long r = Native.raw(Nr.READ, uffd, buf.address(), buf.byteSize() / MSG_SIZE * MSG_SIZE);
        if (r == -Errno.EAGAIN) return 0;
        Native.check(r, "read(userfaultfd)");
        return (int) (r / MSG_SIZE);
    }

    /** The event of the message at off (EVENT_*). */
    public static int event(MemorySegment buf, long off) {
        return buf.get(JAVA_BYTE, off) & 0xff;
    }

    /** EVENT_PAGEFAULT: flags (PAGEFAULT_FLAG_*). */
    public static long faultFlags(MemorySegment buf, long off) {
        return buf.get(JAVA_LONG, off + 8);
    }

    /** EVENT_PAGEFAULT: the faulting address (page-aligned unless FEATURE_EXACT_ADDRESS). */
    public static long faultAddress(MemorySegment buf, long off) {
        return buf.get(JAVA_LONG, off + 16);
    }

    /** EVENT_PAGEFAULT with FEATURE_THREAD_ID: the faulting thread. */
    public static int faultThread(MemorySegment buf, long off) {
        return buf.get(JAVA_INT, off + 24);
    }

    /** EVENT_FORK: the new userfaultfd (already in cryo's fd table) of the child's address space. */
    public static int forkUffd(MemorySegment buf, long off) {
        return buf.get(JAVA_INT, off + 8);
    }

    /** EVENT_REMAP: from, to, len; EVENT_REMOVE/EVENT_UNMAP: start, end (at arg 0 and 1). */
    public static long arg(MemorySegment buf, long off, int i) {
        return buf.get(JAVA_LONG, off + 8 + 8L * i);
    }

    private static String range(long start, long len) {
        return "0x" + Long.toHexString(start) + "-0x" + Long.toHexString(start + len);
    }
}
