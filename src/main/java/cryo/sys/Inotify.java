package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/** inotify(7) in cryo's own process, and open_by_handle_at(2), which finds a watched inode again by its file handle. */
public final class Inotify {
    private static final int INOTIFY_ADD_WATCH = 254, INOTIFY_RM_WATCH = 255, INOTIFY_INIT1 = 294, OPEN_BY_HANDLE_AT = 304;
    private static final int EAGAIN = 11, AT_FDCWD = -100, CLONE_FS = 0x200, FIONREAD = 0x541b;
    public static final int IN_NONBLOCK = Fd.O_NONBLOCK;
    public static final int IN_ALL_EVENTS = 0xfff, IN_DELETE_SELF = 0x400, IN_EXCL_UNLINK = 0x04000000, IN_ONESHOT = 0x80000000;

    private Inotify() {
    }

    /** inotify_init1(2), close-on-exec (the broker passes it on). */
    public static int init1(int flags) throws SysException {
        return (int) Native.check(Native.raw(INOTIFY_INIT1, flags | Fd.O_CLOEXEC), "inotify_init1(0x" + Integer.toHexString(flags) + ")");
    }

    /** inotify_add_watch(2): the watch descriptor of path's inode in instance fd, new or updated (mask replaces the old one). */
    public static int addWatch(int fd, String path, int mask, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            return (int) Native.check(Native.raw(INOTIFY_ADD_WATCH, fd, a.allocateFrom(path).address(), Integer.toUnsignedLong(mask)),
                    "inotify_add_watch(" + what + ", 0x" + Integer.toHexString(mask) + ")");
        }
    }

    /** inotify_rm_watch(2): queues IN_IGNORED for wd. */
    public static void rmWatch(int fd, int wd) throws SysException {
        Native.check(Native.raw(INOTIFY_RM_WATCH, fd, wd), "inotify_rm_watch(" + wd + ")");
    }

    /**
     * The bytes of events queued unread in task pid's inotify fd: ioctl(FIONREAD) on a duplicate taken with
     * pidfd_getfd(2), which reads nothing from the queue.
     */
    public static int queuedBytes(int pid, int fd) throws SysException {
        int dup = Proc.pidfdGetfd(pid, fd);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(JAVA_INT);
            Native.check(Native.raw(Nr.IOCTL, dup, FIONREAD, n.address()), "ioctl(FIONREAD, inotify fd " + fd + " of " + pid + ")");
            return n.get(JAVA_INT, 0);
        } finally {
            Fd.close(dup);
        }
    }

    /** Reads and drops every event queued on fd, which must be non-blocking; returns how many bytes that was. */
    public static long drain(int fd) throws SysException {
        long total = 0;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(65536);
            while (true) {
                long n = Native.raw(Nr.READ, fd, buf.address(), buf.byteSize());
                if (n == -EAGAIN || n == 0) return total;
                Native.check(n, "read(inotify)");
                total += n;
            }
        }
    }

    /**
     * open_by_handle_at(2) with O_PATH: the inode of file handle (type, bytes) on the file system of directory
     * dirFd (O_PATH is enough). Needs CAP_DAC_READ_SEARCH; ESTALE when that inode is no more. The call takes
     * the mount from an fd it can read (an O_PATH one is EBADF) or from the cwd; opening the directory would
     * queue IN_OPEN for whoever watches it (the very tree being checkpointed), so a thread with a cwd of its own
     * (unshare(CLONE_FS)) enters dirFd with fchdir(2), which queues nothing, and passes AT_FDCWD.
     */
    public static int openByHandle(int dirFd, int type, byte[] handle, String what) throws SysException {
        return OwnThread.call("cryo-open-by-handle", () -> {
            Proc.unshare(CLONE_FS);
            Native.check(Native.raw(Nr.FCHDIR, dirFd), "fchdir(" + what + ")");
            try (Arena a = Arena.ofConfined()) {
                MemorySegment fh = a.allocate(8 + handle.length);
                fh.set(JAVA_INT, 0, handle.length);
                fh.set(JAVA_INT, 4, type);
                MemorySegment.copy(handle, 0, fh, java.lang.foreign.ValueLayout.JAVA_BYTE, 8, handle.length);
                return (int) Native.check(Native.raw(OPEN_BY_HANDLE_AT, AT_FDCWD, fh.address(), Fd.O_PATH | Fd.O_CLOEXEC),
                        "open_by_handle_at(" + what + ")");
            }
        });
    }
}
