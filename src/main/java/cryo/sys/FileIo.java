package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** Calls on a file's contents and inode in cryo's own process: positional I/O, holes, size, owner, mode, times. */
public final class FileIo {
    /** open(2): a file without a name in the directory given, on a file system that supports it. */
    public static final int O_TMPFILE = 020000000 | Fd.O_DIRECTORY;
    private static final int SEEK_DATA = 3, SEEK_HOLE = 4, ENXIO = 6;
    private static final int LINKAT = 265, AT_FDCWD = -100, AT_SYMLINK_FOLLOW = 0x400;
    private static final int PWRITE64 = 18, FTRUNCATE = 77, UNLINK = 87, FCHMOD = 91, FCHOWN = 93, UTIMENSAT = 280;

    private FileIo() {
    }

    /** open(2) with O_CREAT or O_TMPFILE and a mode (close-on-exec). */
    public static int create(String path, int flags, int mode) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            return (int) Native.check(Native.raw(Nr.OPEN, a.allocateFrom(path).address(), flags | Fd.O_CLOEXEC, mode), "open(" + path + ")");
        }
    }

    /**
     * linkat(2) of a file opened with O_TMPFILE, by its /proc/self/fd link (open(2): no capability needed, unlike
     * AT_EMPTY_PATH): gives it the name path; EEXIST if the name is taken.
     */
    public static void linkOpen(int fd, String path) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            Native.check(Native.raw(LINKAT, AT_FDCWD, a.allocateFrom("/proc/self/fd/" + fd).address(), AT_FDCWD,
                    a.allocateFrom(path).address(), AT_SYMLINK_FOLLOW), "linkat(" + path + ")");
        }
    }

    public static void unlink(String path) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            Native.check(Native.raw(UNLINK, a.allocateFrom(path).address()), "unlink(" + path + ")");
        }
    }

    /**
     * lseek(SEEK_DATA): the start of the first data at or after off, or -1 when there is none (ENXIO: only a
     * hole up to the end of the file, lseek(2)).
     */
    public static long seekData(int fd, long off, String what) throws SysException {
        long r = Native.raw(Nr.LSEEK, fd, off, SEEK_DATA);
        if (r == -ENXIO) return -1;
        return Native.check(r, "lseek(" + what + ", " + off + ", SEEK_DATA)");
    }

    /** lseek(SEEK_HOLE): the start of the first hole at or after off (the end of the file counts as one). */
    public static long seekHole(int fd, long off, String what) throws SysException {
        return Native.check(Native.raw(Nr.LSEEK, fd, off, SEEK_HOLE), "lseek(" + what + ", " + off + ", SEEK_HOLE)");
    }

    /** pread(2) until data is full; fails on an early end of file. */
    public static void preadFully(int fd, MemorySegment data, long off, String what) throws SysException {
        long done = 0;
        while (done < data.byteSize()) {
            long r = Native.raw(Nr.PREAD64, fd, data.address() + done, data.byteSize() - done, off + done);
            if (r == -Errno.EINTR) continue;
            long n = Native.check(r, "pread(" + what + ", " + (off + done) + ")");
            if (n == 0) throw new SysException("pread(" + what + "): end of file at " + (off + done), Errno.EIO);
            done += n;
        }
    }

    /** pwrite(2) all of data at off. */
    public static void pwriteFully(int fd, MemorySegment data, long off, String what) throws SysException {
        long done = 0;
        while (done < data.byteSize()) {
            long r = Native.raw(PWRITE64, fd, data.address() + done, data.byteSize() - done, off + done);
            if (r == -Errno.EINTR) continue;
            done += Native.check(r, "pwrite(" + what + ", " + (off + done) + ")");
        }
    }

    public static void ftruncate(int fd, long size, String what) throws SysException {
        Native.check(Native.raw(FTRUNCATE, fd, size), "ftruncate(" + what + ", " + size + ")");
    }

    public static void fchown(int fd, int uid, int gid, String what) throws SysException {
        Native.check(Native.raw(FCHOWN, fd, uid, gid), "fchown(" + what + ", " + uid + ", " + gid + ")");
    }

    public static void fchmod(int fd, int mode, String what) throws SysException {
        Native.check(Native.raw(FCHMOD, fd, mode), "fchmod(" + what + ", 0" + Integer.toOctalString(mode) + ")");
    }

    /** futimens(3) (utimensat with a NULL path): access and modification times in nanoseconds since the epoch. */
    public static void futimens(int fd, long atimeNanos, long mtimeNanos, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ts = a.allocate(32);
            ts.set(JAVA_LONG, 0, Math.floorDiv(atimeNanos, 1_000_000_000L));
            ts.set(JAVA_LONG, 8, Math.floorMod(atimeNanos, 1_000_000_000L));
            ts.set(JAVA_LONG, 16, Math.floorDiv(mtimeNanos, 1_000_000_000L));
            ts.set(JAVA_LONG, 24, Math.floorMod(mtimeNanos, 1_000_000_000L));
            Native.check(Native.raw(UTIMENSAT, fd, 0, ts.address(), 0), "futimens(" + what + ")");
        }
    }
}
