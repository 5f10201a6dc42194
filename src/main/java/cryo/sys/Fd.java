package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** File descriptors in cryo's own process: the fd broker opens files here and passes them on. */
public final class Fd {
    public static final int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_ACCMODE = 3, O_CREAT = 0100, O_EXCL = 0200,
            O_NOCTTY = 0400, O_TRUNC = 01000, O_APPEND = 02000, O_NONBLOCK = 04000, O_DIRECTORY = 0200000,
            O_NOFOLLOW = 0400000, O_CLOEXEC = 02000000, O_PATH = 010000000;
    public static final int F_GETFD = 1, F_SETFD = 2, F_GETFL = 3, F_SETFL = 4, FD_CLOEXEC = 1,
            F_SETPIPE_SZ = 1031, F_GETPIPE_SZ = 1032;
    private static final int SPLICE_F_NONBLOCK = 2;
    private static final int AF_UNIX = 1, SOCK_DGRAM = 2, SOCK_CLOEXEC = O_CLOEXEC, SOL_SOCKET = 1, SCM_RIGHTS = 1;

    private Fd() {
    }

    public static int open(String path, int flags) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            return (int) Native.check(Native.raw(Nr.OPEN, a.allocateFrom(path).address(), flags | O_CLOEXEC, 0),
                    "open(" + path + ")");
        }
    }

    public static void close(int fd) {
        Native.raw(Nr.CLOSE, fd);
    }

    public static long lseek(int fd, long off, String what) throws SysException {
        return Native.check(Native.raw(Nr.LSEEK, fd, off, 0), "lseek(" + what + ", " + off + ")");
    }

    private static final int ENXIO = 6;
    public static final int SEEK_END = 2, SEEK_DATA = 3, SEEK_HOLE = 4;

    /**
     * lseek(2) with a whence other than SEEK_SET; for SEEK_DATA/SEEK_HOLE returns -1 where the kernel says ENXIO
     * (no data at or after off).
     */
    public static long lseek(int fd, long off, int whence, String what) throws SysException {
        long r = Native.raw(Nr.LSEEK, fd, off, whence);
        if (r == -ENXIO && (whence == SEEK_DATA || whence == SEEK_HOLE)) return -1;
        return Native.check(r, "lseek(" + what + ", " + off + ", " + whence + ")");
    }

    public static int fcntl(int fd, int cmd, long arg) throws SysException {
        return (int) Native.check(Native.raw(Nr.FCNTL, fd, cmd, arg), "fcntl(" + fd + ", " + cmd + ")");
    }

    /** A connected pair of Unix datagram sockets, close-on-exec. */
    public static int[] socketpair() throws SysException {
        return socketpair(SOCK_DGRAM);
    }

    /** A connected pair of Unix sockets of the given type (SOCK_DGRAM, SOCK_SEQPACKET...), close-on-exec. */
    static int[] socketpair(int type) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sv = a.allocate(8);
            Native.check(Native.raw(Nr.SOCKETPAIR, AF_UNIX, type | SOCK_CLOEXEC, 0, sv.address()), "socketpair(AF_UNIX, type " + type + ")");
            return new int[]{sv.get(JAVA_INT, 0), sv.get(JAVA_INT, 4)};
        }
    }

    /** Sends one byte with fd attached as SCM_RIGHTS (unix(7)). */
    public static void sendFd(int sock, int fd) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment data = a.allocate(8);
            MemorySegment iov = a.allocate(16);
            iov.set(JAVA_LONG, 0, data.address());
            iov.set(JAVA_LONG, 8, 1);
            MemorySegment cmsg = a.allocate(24);
            cmsg.set(JAVA_LONG, 0, 20);         // cmsg_len = CMSG_LEN(sizeof(int))
            cmsg.set(JAVA_INT, 8, SOL_SOCKET);
            cmsg.set(JAVA_INT, 12, SCM_RIGHTS);
            cmsg.set(JAVA_INT, 16, fd);
            MemorySegment msg = a.allocate(56);
            msg.set(JAVA_LONG, 16, iov.address());
            msg.set(JAVA_LONG, 24, 1);
            msg.set(JAVA_LONG, 32, cmsg.address());
            msg.set(JAVA_LONG, 40, 24);
            Native.check(Native.raw(Nr.SENDMSG, sock, msg.address(), 0), "sendmsg(SCM_RIGHTS, fd " + fd + ")");
        }
    }

    /** pipe2(O_CLOEXEC): {read end, write end}. */
    public static int[] pipe() throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(8);
            Native.check(Native.raw(Nr.PIPE2, p.address(), O_CLOEXEC), "pipe2");
            return new int[]{p.get(JAVA_INT, 0), p.get(JAVA_INT, 4)};
        }
    }

    /** tee(2): duplicates up to len bytes of pipe in into pipe out without consuming them; 0 when in is empty. */
    public static long tee(int in, int out, long len) throws SysException {
        long r = Native.raw(Nr.TEE, in, out, len, SPLICE_F_NONBLOCK);
        if (r == -Errno.EAGAIN) return 0;
        return Native.check(r, "tee(" + in + ", " + out + ")");
    }

    /** Reads exactly into data (a pipe holding at least that much). */
    public static void readFully(int fd, MemorySegment data, String what) throws SysException {
        long off = 0;
        while (off < data.byteSize()) {
            long r = Native.raw(Nr.READ, fd, data.address() + off, data.byteSize() - off);
            if (r == -Errno.EINTR) continue;
            long n = Native.check(r, "read(" + what + ")");
            if (n == 0) throw new SysException("read(" + what + "): end of file after " + off + " bytes", Errno.EIO);
            off += n;
        }
    }

    public static int memfd(String name) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            return (int) Native.check(Native.raw(Nr.MEMFD_CREATE, a.allocateFrom(name).address(), 1 /* MFD_CLOEXEC */), "memfd_create(" + name + ")");
        }
    }

    public static void writeFully(int fd, MemorySegment data, String what) throws SysException {
        long off = 0;
        while (off < data.byteSize()) {
            long r = Native.raw(Nr.WRITE, fd, data.address() + off, data.byteSize() - off);
            if (r == -Errno.EINTR) continue;
            off += Native.check(r, "write(" + what + ")");
        }
    }
}
