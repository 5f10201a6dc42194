package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * File system calls in cryo's own process for files restart recreates without a name (memfd, an unlinked
 * FIFO, a deleted directory); reads and writes of their data and attributes are in FileIo.
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

    /** fstatfs(2)'s f_type: what file system fd is on. */
    public static long fsType(int fd, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(120);
            Native.check(Native.raw(Nr.FSTATFS, fd, s.address()), "fstatfs(" + what + ")");
            return s.get(JAVA_LONG, 0);
        }
    }
    private static final int SYMLINKAT = 266, LINKAT = 265, FCHMODAT = 268, FCHOWNAT = 260, UTIMENSAT = 280, AT_SYMLINK_NOFOLLOW = 0x100;

    /** symlink(2): a link at path holding target. */
    public static void symlink(String target, String path) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            Native.check(Native.raw(SYMLINKAT, a.allocateFrom(target).address(), AT_FDCWD, a.allocateFrom(path).address()), "symlink(" + path + ")");
        }
    }

    /** link(2): a second name for existing (without following a symlink). */
    public static void link(String existing, String path) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            Native.check(Native.raw(LINKAT, AT_FDCWD, a.allocateFrom(existing).address(), AT_FDCWD, a.allocateFrom(path).address(), 0),
                    "link(" + existing + ", " + path + ")");
        }
    }

    /** lchown(2): the owner of path itself, a symlink included. */
    public static void lchown(String path, int uid, int gid) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            Native.check(Native.raw(FCHOWNAT, AT_FDCWD, a.allocateFrom(path).address(), uid, gid, AT_SYMLINK_NOFOLLOW),
                    "lchown(" + path + ", " + uid + ", " + gid + ")");
        }
    }

    /** chmod(2), set-id bits included (after chown, which clears them). */
    public static void chmod(String path, int mode) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            Native.check(Native.raw(FCHMODAT, AT_FDCWD, a.allocateFrom(path).address(), mode & 07777), "chmod(" + path + ", 0" + Integer.toOctalString(mode) + ")");
        }
    }

    /** utimensat(2) with AT_SYMLINK_NOFOLLOW: access and modification times of path itself, in ns since the epoch. */
    public static void lutimens(String path, long atimeNanos, long mtimeNanos) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ts = a.allocate(32);
            ts.set(JAVA_LONG, 0, Math.floorDiv(atimeNanos, 1_000_000_000L));
            ts.set(JAVA_LONG, 8, Math.floorMod(atimeNanos, 1_000_000_000L));
            ts.set(JAVA_LONG, 16, Math.floorDiv(mtimeNanos, 1_000_000_000L));
            ts.set(JAVA_LONG, 24, Math.floorMod(mtimeNanos, 1_000_000_000L));
            Native.check(Native.raw(UTIMENSAT, AT_FDCWD, a.allocateFrom(path).address(), ts.address(), AT_SYMLINK_NOFOLLOW), "utimensat(" + path + ")");
        }
    }
}
