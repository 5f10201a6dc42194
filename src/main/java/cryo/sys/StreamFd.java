package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Calls on a stream fd of cryo's own (the image on stdin or a FIFO, the image to stdout): poll(2) with a
 * timeout, read(2), a write(2) that may not block, ioctl(FIONREAD) and fstat(2)'s file type.
 */
public final class StreamFd {
    public static final short POLLIN = 0x001, POLLOUT = 0x004, POLLERR = 0x008, POLLHUP = 0x010;
    /** st_mode's file types (inode(7)). */
    public static final int S_IFMT = 0170000, S_IFIFO = 0010000, S_IFREG = 0100000, S_IFSOCK = 0140000;
    private static final int POLL = 7, FSTAT = 5, FIONREAD = 0x541b;

    private StreamFd() {
    }

    /**
     * poll(2) on one fd: the events that came (POLLERR and POLLHUP are reported whether asked or not), or 0
     * when none came within timeoutMs. EINTR polls again for what is left of the time.
     */
    public static int poll(int fd, short events, long timeoutMs, String what) throws SysException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(8);
            while (true) {
                p.set(JAVA_INT, 0, fd);
                p.set(JAVA_SHORT, 4, events);
                p.set(JAVA_SHORT, 6, (short) 0);
                long left = Math.max(0, (deadline - System.nanoTime()) / 1_000_000);
                long n = Native.raw(POLL, p.address(), 1, Math.min(left, Integer.MAX_VALUE));
                if (n == -Errno.EINTR) continue;
                Native.check(n, "poll(" + what + ")");
                return n == 0 ? 0 : p.get(JAVA_SHORT, 6) & 0xffff;
            }
        }
    }

    /** read(2) into buf: the bytes read, 0 at end of file, -1 for EAGAIN. */
    public static int read(int fd, MemorySegment buf, String what) throws SysException {
        long r;
        do {
            r = Native.raw(Nr.READ, fd, buf.address(), buf.byteSize());
        } while (r == -Errno.EINTR);
        if (r == -Errno.EAGAIN) return -1;
        return (int) Native.check(r, "read(" + what + ")");
    }

    /** write(2) of buf: the bytes written, -1 for EAGAIN (an O_NONBLOCK fd that is full). */
    public static int write(int fd, MemorySegment buf, String what) throws SysException {
        long r;
        do {
            r = Native.raw(Nr.WRITE, fd, buf.address(), buf.byteSize());
        } while (r == -Errno.EINTR);
        if (r == -Errno.EAGAIN) return -1;
        return (int) Native.check(r, "write(" + what + ")");
    }

    /** ioctl(FIONREAD): on a pipe, from either end, the bytes written into it and not read yet (pipe(7)). */
    public static int unread(int fd, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(4);
            Native.check(Native.raw(Nr.IOCTL, fd, FIONREAD, n.address()), "ioctl(" + what + ", FIONREAD)");
            return n.get(JAVA_INT, 0);
        }
    }

    /** st_mode & S_IFMT of what fd is (fstat(2)). */
    public static int fileType(int fd, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(144);
            Native.check(Native.raw(FSTAT, fd, st.address()), "fstat(" + what + ")");
            return st.get(JAVA_INT, 24) & S_IFMT;
        }
    }
}
