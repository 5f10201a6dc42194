package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * File system calls in cryo's own process for files restart recreates without a name (memfd, an unlinked
 * FIFO, a deleted directory), and the extent walk checkpoint reads their data with.
 */
public final class Fs {
    private static final int AT_FDCWD = -100;
    public static final int F_ADD_SEALS = 1033, F_GET_SEALS = 1034;
    public static final int MFD_CLOEXEC = 1, MFD_ALLOW_SEALING = 2, MFD_HUGETLB = 4, MFD_NOEXEC_SEAL = 8, MFD_EXEC = 0x10;
    public static final int O_NOATIME = 01000000;
    public static final long HUGETLBFS_MAGIC = 0x958458f6L;

    private Fs() {
    }

    /** memfd_create(2) with flags (MFD_CLOEXEC always added: the broker passes it on). */
    public static int memfdCreate(String name, int flags) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            return (int) Native.check(Native.raw(Nr.MEMFD_CREATE, a.allocateFrom(name).address(), flags | MFD_CLOEXEC),
                    "memfd_create(" + name + ", 0x" + Integer.toHexString(flags) + ")");
        }
    }

    /** pread(2) until buf is full; fails at end of file. */
    public static void preadFully(int fd, MemorySegment buf, long off, String what) throws SysException {
        long done = 0;
        while (done < buf.byteSize()) {
            long r = Native.raw(Nr.PREAD64, fd, buf.address() + done, buf.byteSize() - done, off + done);
            if (r == -Errno.EINTR) continue;
            long n = Native.check(r, "pread(" + what + ", " + (off + done) + ")");
            if (n == 0) throw new SysException("pread(" + what + "): end of file at " + (off + done), Errno.EIO);
            done += n;
        }
    }

    /** pwrite(2) of all of buf at off. */
    public static void pwriteFully(int fd, MemorySegment buf, long off, String what) throws SysException {
        long done = 0;
        while (done < buf.byteSize()) {
            long r = Native.raw(Nr.PWRITE64, fd, buf.address() + done, buf.byteSize() - done, off + done);
            if (r == -Errno.EINTR) continue;
            done += Native.check(r, "pwrite(" + what + ", " + (off + done) + ")");
        }
    }

    public static void ftruncate(int fd, long size, String what) throws SysException {
        Native.check(Native.raw(Nr.FTRUNCATE, fd, size), "ftruncate(" + what + ", " + size + ")");
    }

    public static void fchmod(int fd, int mode, String what) throws SysException {
        Native.check(Native.raw(Nr.FCHMOD, fd, mode), "fchmod(" + what + ", 0" + Integer.toOctalString(mode) + ")");
    }

    public static void fchown(int fd, int uid, int gid, String what) throws SysException {
        Native.check(Native.raw(Nr.FCHOWN, fd, uid, gid), "fchown(" + what + ", " + uid + ", " + gid + ")");
    }

    /** utimensat(fd, NULL, {atime, mtime}, 0): the times of what fd is open on. */
    public static void futimens(int fd, long atimeNanos, long mtimeNanos, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment t = a.allocate(32);
            t.set(JAVA_LONG, 0, Math.floorDiv(atimeNanos, 1_000_000_000L));
            t.set(JAVA_LONG, 8, Math.floorMod(atimeNanos, 1_000_000_000L));
            t.set(JAVA_LONG, 16, Math.floorDiv(mtimeNanos, 1_000_000_000L));
            t.set(JAVA_LONG, 24, Math.floorMod(mtimeNanos, 1_000_000_000L));
            Native.check(Native.raw(Nr.UTIMENSAT, fd, 0, t.address(), 0), "utimensat(" + what + ")");
        }
    }

    /** mknod(path, S_IFIFO | mode): mkfifo(3). */
    public static void mkfifo(String path, int mode) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            Native.check(Native.raw(Nr.MKNODAT, AT_FDCWD, a.allocateFrom(path).address(), 0010000 | (mode & 07777), 0), "mkfifo(" + path + ")");
        }
    }

    public static void mkdir(String path, int mode) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            Native.check(Native.raw(Nr.MKDIR, a.allocateFrom(path).address(), mode & 07777), "mkdir(" + path + ")");
        }
    }

    public static void rmdir(String path) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            Native.check(Native.raw(Nr.RMDIR, a.allocateFrom(path).address()), "rmdir(" + path + ")");
        }
    }

    public static void unlink(String path) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            Native.check(Native.raw(Nr.UNLINK, a.allocateFrom(path).address()), "unlink(" + path + ")");
        }
    }

    /** fstatfs(2)'s f_type: what file system fd is on. */
    public static long fsType(int fd, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(120);
            Native.check(Native.raw(Nr.FSTATFS, fd, s.address()), "fstatfs(" + what + ")");
            return s.get(JAVA_LONG, 0);
        }
    }
}
