package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Socket calls on cryo's own fds (socket(7), unix(7)): checkpoint inspects a task's socket through a
 * duplicate (Proc.pidfdGetfd), restart creates sockets here for the fd broker to hand out.
 */
public final class Sock {
    public static final int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_SEQPACKET = 5, SOCK_CLOEXEC = Fd.O_CLOEXEC,
            SOCK_NONBLOCK = Fd.O_NONBLOCK;
    public static final int SOL_SOCKET = 1, SO_TYPE = 3, SO_SNDBUF = 7, SO_RCVBUF = 8, SO_PASSCRED = 16, SO_ACCEPTCONN = 30,
            SO_SNDBUFFORCE = 32, SO_RCVBUFFORCE = 33, SO_PASSSEC = 34, SO_PEEK_OFF = 42, SO_PASSPIDFD = 76;
    public static final int SCM_RIGHTS = 1, SCM_CREDENTIALS = 2;
    public static final int MSG_PEEK = 2, MSG_CTRUNC = 8, MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000,
            MSG_CMSG_CLOEXEC = 0x40000000;
    public static final int SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;
    public static final int EMSGSIZE = 90, EADDRINUSE = 98, ECONNREFUSED = 111;
    /** sizeof(struct sockaddr_un): family, then 108 bytes of path. */
    public static final int SUN_PATH_MAX = 108;

    private Sock() {
    }

    public static int socket(int family, int type) throws SysException {
        return (int) Native.check(Native.raw(Nr.SOCKET, family, type | SOCK_CLOEXEC, 0), "socket(" + family + ", " + type + ")");
    }

    public static int[] socketpair(int family, int type) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sv = a.allocate(8);
            Native.check(Native.raw(Nr.SOCKETPAIR, family, type | SOCK_CLOEXEC, 0, sv.address()), "socketpair(" + family + ", " + type + ")");
            return new int[]{sv.get(JAVA_INT, 0), sv.get(JAVA_INT, 4)};
        }
    }

    public static int getInt(int fd, int level, int opt, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(4), len = a.allocate(4);
            len.set(JAVA_INT, 0, 4);
            Native.check(Native.raw(Nr.GETSOCKOPT, fd, level, opt, v.address(), len.address()), "getsockopt(" + what + ", " + opt + ")");
            return v.get(JAVA_INT, 0);
        }
    }

    public static void setInt(int fd, int level, int opt, int value, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(4);
            v.set(JAVA_INT, 0, value);
            Native.check(Native.raw(Nr.SETSOCKOPT, fd, level, opt, v.address(), 4), "setsockopt(" + what + ", " + opt + ", " + value + ")");
        }
    }

    /** A struct sockaddr_un for name (sun_path bytes: a path, or a 0 byte then an abstract name); its length. */
    private static long sockaddr(Arena a, byte[] name, MemorySegment[] out) {
        MemorySegment sa = a.allocate(2 + SUN_PATH_MAX + 1);
        sa.set(java.lang.foreign.ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
        MemorySegment.copy(name, 0, sa, JAVA_BYTE, 2, name.length);
        out[0] = sa;
        return 2 + name.length + (name.length > 0 && name[0] != 0 ? 1 : 0);
    }

    public static void bind(int fd, byte[] name, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment[] sa = new MemorySegment[1];
            long len = sockaddr(a, name, sa);
            Native.check(Native.raw(Nr.BIND, fd, sa[0].address(), len), "bind(" + what + ")");
        }
    }

    public static void connect(int fd, byte[] name, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment[] sa = new MemorySegment[1];
            long len = sockaddr(a, name, sa);
            Native.check(Native.raw(Nr.CONNECT, fd, sa[0].address(), len), "connect(" + what + ")");
        }
    }

    public static void listen(int fd, int backlog, String what) throws SysException {
        Native.check(Native.raw(Nr.LISTEN, fd, backlog), "listen(" + what + ", " + backlog + ")");
    }

    public static int accept(int fd, String what) throws SysException {
        return (int) Native.check(Native.raw(Nr.ACCEPT4, fd, 0, 0, SOCK_CLOEXEC), "accept4(" + what + ")");
    }

    public static void shutdown(int fd, int how, String what) throws SysException {
        Native.check(Native.raw(Nr.SHUTDOWN, fd, how), "shutdown(" + what + ", " + how + ")");
    }

    /** SCM_CREDENTIALS of a message: struct ucred. */
    public record Ucred(int pid, int uid, int gid) {
    }

    /** One message (or, on a stream socket, a run of bytes of one writer) peeked from a receive queue. */
    public record Peeked(byte[] data, byte[] from, Ucred creds, boolean rights) {
    }

    /**
     * recvmsg(MSG_PEEK | MSG_DONTWAIT) of the next message at the socket's peek offset (SO_PEEK_OFF must be
     * set: the kernel moves it past what is returned, so the next call gets the next message); null when the
     * queue holds no more. A message longer than room comes back as the length it needs in a Peeked whose data
     * is null (the peek offset is then moved by room: the caller sets it back). Fds in flight (SCM_RIGHTS) are
     * installed in cryo by the peek (unix_peek_fds): they are closed here and the message says rights.
     */
    public static Peeked peek(int fd, int room, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(Math.max(room, 1)), name = a.allocate(2 + SUN_PATH_MAX + 2), control = a.allocate(512);
            MemorySegment iov = a.allocate(16), msg = a.allocate(56);
            iov.set(JAVA_LONG, 0, buf.address());
            iov.set(JAVA_LONG, 8, room);
            msg.set(JAVA_LONG, 0, name.address());
            msg.set(JAVA_INT, 8, (int) name.byteSize());
            msg.set(JAVA_LONG, 16, iov.address());
            msg.set(JAVA_LONG, 24, 1);
            msg.set(JAVA_LONG, 32, control.address());
            msg.set(JAVA_LONG, 40, control.byteSize());
            long r = Native.raw(Nr.RECVMSG, fd, msg.address(), MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
            if (r == -Errno.EAGAIN) return null;
            long n = Native.check(r, "recvmsg(" + what + ", MSG_PEEK)");
            int flags = msg.get(JAVA_INT, 48);
            Ucred creds = null;
            boolean rights = (flags & MSG_CTRUNC) != 0;
            long clen = msg.get(JAVA_LONG, 40);
            for (long off = 0; off + 16 <= clen; ) {
                long len = control.get(JAVA_LONG, off);
                int level = control.get(JAVA_INT, off + 8), type = control.get(JAVA_INT, off + 12);
                if (len < 16) break;
                if (level == SOL_SOCKET && type == SCM_RIGHTS) {
                    rights = true;
                    for (long p = off + 16; p + 4 <= off + len; p += 4) Fd.close(control.get(JAVA_INT, p));
                } else if (level == SOL_SOCKET && type == SCM_CREDENTIALS && len >= 28) {
                    creds = new Ucred(control.get(JAVA_INT, off + 16), control.get(JAVA_INT, off + 20), control.get(JAVA_INT, off + 24));
                }
                off += (len + 7) & ~7L;
            }
            int namelen = msg.get(JAVA_INT, 8);
            byte[] from = namelen > 2 ? name.asSlice(2, namelen - 2).toArray(JAVA_BYTE) : new byte[0];
            if (from.length > 0 && from[0] != 0 && from[from.length - 1] == 0) from = java.util.Arrays.copyOf(from, from.length - 1);
            if (n > room) return new Peeked(null, from, creds, rights);
            return new Peeked(buf.asSlice(0, n).toArray(JAVA_BYTE), from, creds, rights);
        }
    }

    /**
     * sendmsg(MSG_DONTWAIT | MSG_NOSIGNAL) of one message to the socket's peer, or to `to` when it is not
     * null, with explicit credentials when creds is not null; returns the bytes sent (a stream socket may
     * take fewer).
     */
    public static long send(int fd, MemorySegment data, byte[] to, Ucred creds, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment iov = a.allocate(16), msg = a.allocate(56), control = a.allocate(32);
            iov.set(JAVA_LONG, 0, data.address());
            iov.set(JAVA_LONG, 8, data.byteSize());
            if (to != null) {
                MemorySegment[] sa = new MemorySegment[1];
                long len = sockaddr(a, to, sa);
                msg.set(JAVA_LONG, 0, sa[0].address());
                msg.set(JAVA_INT, 8, (int) len);
            }
            msg.set(JAVA_LONG, 16, iov.address());
            msg.set(JAVA_LONG, 24, 1);
            if (creds != null) {
                control.set(JAVA_LONG, 0, 28);
                control.set(JAVA_INT, 8, SOL_SOCKET);
                control.set(JAVA_INT, 12, SCM_CREDENTIALS);
                control.set(JAVA_INT, 16, creds.pid());
                control.set(JAVA_INT, 20, creds.uid());
                control.set(JAVA_INT, 24, creds.gid());
                msg.set(JAVA_LONG, 32, control.address());
                msg.set(JAVA_LONG, 40, 32);
            }
            return Native.check(Native.raw(Nr.SENDMSG, fd, msg.address(), MSG_DONTWAIT | MSG_NOSIGNAL), "sendmsg(" + what + ")");
        }
    }
}
