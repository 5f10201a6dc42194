package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * What the kernel tells of a socket by its inode through NETLINK_SOCK_DIAG (sock_diag(7); for Unix sockets
 * net/unix/diag.c), in the network namespace of the calling thread.
 */
public final class SockDiag {
    private static final int AF_NETLINK = 16, SOCK_RAW = 3, NETLINK_SOCK_DIAG = 4, SOCK_DIAG_BY_FAMILY = 20,
            NLM_F_REQUEST = 1, NLM_F_DUMP = 0x300, NLMSG_ERROR = 2, NLMSG_DONE = 3;
    private static final int UDIAG_SHOW_NAME = 1, UDIAG_SHOW_VFS = 2, UDIAG_SHOW_PEER = 4, UDIAG_SHOW_ICONS = 8,
            UDIAG_SHOW_RQLEN = 0x10, UDIAG_SHOW_UID = 0x40;
    private static final int UNIX_DIAG_NAME = 0, UNIX_DIAG_VFS = 1, UNIX_DIAG_PEER = 2, UNIX_DIAG_ICONS = 3,
            UNIX_DIAG_RQLEN = 4, UNIX_DIAG_SHUTDOWN = 6, UNIX_DIAG_UID = 7;
    /** sk_state of a Unix socket (include/net/tcp_states.h). */
    public static final int TCP_ESTABLISHED = 1, TCP_CLOSE = 7, TCP_LISTEN = 10;
    /** sk_shutdown bits (include/net/sock.h). */
    public static final int RCV_SHUTDOWN = 1, SEND_SHUTDOWN = 2;

    private SockDiag() {
    }

    /**
     * One Unix socket as unix_diag reports it. name: the bound address's sun_path (a path without its NUL, or
     * a 0 byte and an abstract name), null if unbound; vfsIno/vfsDev: the socket file a path bind made (0 if
     * none); peer: the inode of the peer (0 if none); icons: the inodes of connections waiting in a listener's
     * accept queue; rqueue/wqueue: for a listener the accept queue's length and the backlog, else the bytes
     * queued to read (for a datagram socket, the first message's length) and the bytes this socket sent that
     * are not read yet (sk_wmem_alloc, with overhead).
     */
    public record Unix(int type, int state, long ino, byte[] name, long vfsDev, long vfsIno, boolean connected, long peer, long[] icons,
                       int rqueue, int wqueue, int shutdown, int uid) {
        public boolean listening() {
            return state == TCP_LISTEN;
        }

        public boolean abstractName() {
            return name != null && name.length > 0 && name[0] == 0;
        }

        /** The name as text: the path, or "@name" for an abstract one; "" if unbound. */
        public String nameText() {
            return SockDiag.nameText(name);
        }
    }

    /** "PATH", "@ABSTRACT" (NULs in it shown as @), or "" for none. */
    public static String nameText(byte[] name) {
        if (name == null || name.length == 0) return "";
        String s = new String(name, java.nio.charset.StandardCharsets.UTF_8);
        return name[0] == 0 ? "@" + s.substring(1).replace('\0', '@') : s;
    }

    /** The Unix socket of inode ino, or null when no socket of that inode is in the calling thread's network namespace. */
    public static Unix unix(long ino) throws SysException {
        int fd = (int) Native.check(Native.raw(Nr.SOCKET, AF_NETLINK, SOCK_RAW | Sock.SOCK_CLOEXEC, NETLINK_SOCK_DIAG),
                "socket(AF_NETLINK, NETLINK_SOCK_DIAG)");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment req = a.allocate(40);
            req.set(JAVA_INT, 0, 40);
            req.set(JAVA_SHORT, 4, (short) SOCK_DIAG_BY_FAMILY);
            req.set(JAVA_SHORT, 6, (short) NLM_F_REQUEST);
            req.set(JAVA_INT, 8, 1);
            req.set(JAVA_BYTE, 16, (byte) Sock.AF_UNIX);
            req.set(JAVA_INT, 20, -1);                          // udiag_states: every state
            req.set(JAVA_INT, 24, (int) ino);
            req.set(JAVA_INT, 28, UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN | UDIAG_SHOW_UID);
            req.set(JAVA_INT, 32, -1);                          // udiag_cookie: INET_DIAG_NOCOOKIE
            req.set(JAVA_INT, 36, -1);
            String what = "sock_diag(unix socket " + ino + ")";
            Fd.writeFully(fd, req, what);
            MemorySegment buf = a.allocate(1 << 16);   // room for 16k waiting connections of a listener
            long n = Native.check(Native.raw(Nr.READ, fd, buf.address(), buf.byteSize()), what);
            if (n < 16) throw new SysException(what + ": short answer of " + n + " bytes", Errno.EIO);
            int type = buf.get(JAVA_SHORT, 4);
            if (type == NLMSG_ERROR) {
                int err = -buf.get(JAVA_INT, 16);
                if (err == Errno.ENOENT) return null;
                throw new SysException(what, err);
            }
            int len = Math.min(buf.get(JAVA_INT, 0), (int) n);
            return parse(buf.asSlice(16, len - 16));
        } finally {
            Fd.close(fd);
        }
    }

    /** Every listening Unix socket of the calling thread's network namespace (a dump: NLM_F_DUMP), with names and accept queues. */
    public static java.util.List<Unix> unixListeners() throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment req = a.allocate(40);
            req.set(JAVA_BYTE, 16, (byte) Sock.AF_UNIX);
            req.set(JAVA_INT, 20, 1 << TCP_LISTEN);
            req.set(JAVA_INT, 28, UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN);
            return dump(req, 1 << 20, 0, "sock_diag(every listening unix socket)", SockDiag::parse);
        }
    }

    /**
     * A NETLINK_SOCK_DIAG dump: req is the whole request with its struct nlmsghdr left blank (filled here: length,
     * SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP); every answer of at least minBody bytes after its header is
     * parsed, until NLMSG_DONE. room is the read buffer (a dump comes in several reads).
     */
    static <T> java.util.List<T> dump(MemorySegment req, long room, int minBody, String what,
                                     java.util.function.Function<MemorySegment, T> parse) throws SysException {
        req.set(JAVA_INT, 0, (int) req.byteSize());
        req.set(JAVA_SHORT, 4, (short) SOCK_DIAG_BY_FAMILY);
        req.set(JAVA_SHORT, 6, (short) (NLM_F_REQUEST | NLM_F_DUMP));
        req.set(JAVA_INT, 8, 1);
        int fd = (int) Native.check(Native.raw(Nr.SOCKET, AF_NETLINK, SOCK_RAW | Sock.SOCK_CLOEXEC, NETLINK_SOCK_DIAG),
                "socket(AF_NETLINK, NETLINK_SOCK_DIAG)");
        try (Arena a = Arena.ofConfined()) {
            Fd.writeFully(fd, req, what);
            MemorySegment buf = a.allocate(room);
            java.util.List<T> out = new java.util.ArrayList<>();
            while (true) {
                long n = Native.check(Native.raw(Nr.READ, fd, buf.address(), buf.byteSize()), what);
                if (n == 0) return out;
                for (long off = 0; off + 16 <= n; ) {
                    int len = buf.get(JAVA_INT, off), type = buf.get(JAVA_SHORT, off + 4);
                    if (type == NLMSG_DONE) return out;
                    if (type == NLMSG_ERROR) throw new SysException(what, -buf.get(JAVA_INT, off + 16));
                    if (len < 16 + minBody || off + len > n) throw new SysException(what + ": a message of " + len + " bytes", Errno.EIO);
                    out.add(parse.apply(buf.asSlice(off + 16, len - 16)));
                    off += (len + 3) & ~3;
                }
            }
        } finally {
            Fd.close(fd);
        }
    }

    /** struct unix_diag_msg {u8 family, type, state, pad; u32 ino; u32 cookie[2]} and its attributes. */
    private static Unix parse(MemorySegment m) {
        int type = m.get(JAVA_BYTE, 1), state = m.get(JAVA_BYTE, 2);
        long ino = Integer.toUnsignedLong(m.get(JAVA_INT, 4));
        byte[] name = null;
        long vfsDev = 0, vfsIno = 0, peer = 0;
        boolean connected = false;
        long[] icons = new long[0];
        int rq = 0, wq = 0, shutdown = 0, uid = -1;
        for (long off = 16; off + 4 <= m.byteSize(); ) {
            int alen = Short.toUnsignedInt(m.get(JAVA_SHORT, off)), atype = m.get(JAVA_SHORT, off + 2) & 0x3fff;
            if (alen < 4 || off + alen > m.byteSize()) break;
            MemorySegment v = m.asSlice(off + 4, alen - 4);
            switch (atype) {
                case UNIX_DIAG_NAME -> {
                    name = v.toArray(JAVA_BYTE);
                    if (name.length > 0 && name[0] != 0 && name[name.length - 1] == 0) name = Arrays.copyOf(name, name.length - 1);
                }
                case UNIX_DIAG_VFS -> {
                    vfsIno = Integer.toUnsignedLong(v.get(JAVA_INT, 0));
                    vfsDev = Integer.toUnsignedLong(v.get(JAVA_INT, 4));
                }
                case UNIX_DIAG_PEER -> {
                    connected = true;
                    peer = Integer.toUnsignedLong(v.get(JAVA_INT, 0));
                }
                case UNIX_DIAG_ICONS -> {
                    icons = new long[(int) (v.byteSize() / 4)];
                    for (int i = 0; i < icons.length; i++) icons[i] = Integer.toUnsignedLong(v.get(JAVA_INT, 4L * i));
                }
                case UNIX_DIAG_RQLEN -> {
                    rq = v.get(JAVA_INT, 0);
                    wq = v.get(JAVA_INT, 4);
                }
                case UNIX_DIAG_SHUTDOWN -> shutdown = v.get(JAVA_BYTE, 0);
                case UNIX_DIAG_UID -> uid = v.get(JAVA_INT, 0);
                default -> {
                }
            }
            off += (alen + 3) & ~3;
        }
        return new Unix(type, state, ino, name, vfsDev, vfsIno, connected, peer, icons, rq, wq, shutdown, uid);
    }
}
