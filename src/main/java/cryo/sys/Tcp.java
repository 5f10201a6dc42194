package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * TCP calls on cryo's own fds (tcp(7)): the repair mode (TCP_REPAIR and friends, include/uapi/linux/tcp.h,
 * net/ipv4/tcp.c do_tcp_setsockopt), TCP_INFO, the queue sizes (SIOCINQ/SIOCOUTQ/SIOCOUTQNSD), peeks and sends
 * of queue bytes, and inet_diag (sock_diag(7)) for what no socket option tells of a listener: its backlog and
 * accept queue, and a socket's shutdown bits.
 */
public final class Tcp {
    public static final int TCP_NODELAY = 1, TCP_MAXSEG = 2, TCP_CORK = 3, TCP_KEEPIDLE = 4, TCP_KEEPINTVL = 5,
            TCP_KEEPCNT = 6, TCP_DEFER_ACCEPT = 9, TCP_INFO = 11, TCP_CONGESTION = 13, TCP_USER_TIMEOUT = 18,
            TCP_REPAIR = 19, TCP_REPAIR_QUEUE = 20, TCP_QUEUE_SEQ = 21, TCP_REPAIR_OPTIONS = 22, TCP_FASTOPEN = 23,
            TCP_TIMESTAMP = 24, TCP_REPAIR_WINDOW = 29;
    /** TCP_REPAIR values: on, off (with a window probe), off without the probe. */
    public static final int REPAIR_ON = 1, REPAIR_OFF = 0, REPAIR_OFF_NO_WP = -1;
    public static final int NO_QUEUE = 0, RECV_QUEUE = 1, SEND_QUEUE = 2;
    /** struct tcp_repair_opt codes (TCPOPT_*). */
    public static final int TCPOPT_MAXSEG = 2, TCPOPT_WINDOW = 3, TCPOPT_SACK_PERM = 4, TCPOPT_TIMESTAMP = 8;
    /** tcpi_options bits. */
    public static final int TCPI_OPT_TIMESTAMPS = 1, TCPI_OPT_SACK = 2, TCPI_OPT_WSCALE = 4;
    /** sk_state values (include/net/tcp_states.h). */
    public static final int ESTABLISHED = 1, SYN_SENT = 2, SYN_RECV = 3, FIN_WAIT1 = 4, FIN_WAIT2 = 5, TIME_WAIT = 6,
            CLOSE = 7, CLOSE_WAIT = 8, LAST_ACK = 9, LISTEN = 10, CLOSING = 11;
    private static final String[] STATES = {"?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
            "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV"};
    /** recvfrom(2) (x86-64). */
    private static final int RECVFROM = 45;
    private static final long SIOCINQ = 0x541B, SIOCOUTQ = 0x5411, SIOCOUTQNSD = 0x894B;

    private Tcp() {
    }

    public static String stateName(int state) {
        return state >= 0 && state < STATES.length ? STATES[state] : "state " + state;
    }

    public static void repair(int fd, int mode, String what) throws SysException {
        Sock.setInt(fd, InetSock.SOL_TCP, TCP_REPAIR, mode, what + " TCP_REPAIR");
    }

    public static void repairQueue(int fd, int queue, String what) throws SysException {
        Sock.setInt(fd, InetSock.SOL_TCP, TCP_REPAIR_QUEUE, queue, what + " TCP_REPAIR_QUEUE");
    }

    /** The next sequence number of the queue chosen by TCP_REPAIR_QUEUE: write_seq or rcv_nxt (unsigned 32 bits). */
    public static long queueSeq(int fd, String what) throws SysException {
        return Integer.toUnsignedLong(Sock.getInt(fd, InetSock.SOL_TCP, TCP_QUEUE_SEQ, what + " TCP_QUEUE_SEQ"));
    }

    public static void setQueueSeq(int fd, long seq, String what) throws SysException {
        Sock.setInt(fd, InetSock.SOL_TCP, TCP_QUEUE_SEQ, (int) seq, what + " TCP_QUEUE_SEQ");
    }

    /** TCP_REPAIR_OPTIONS: struct tcp_repair_opt {u32 opt_code; u32 opt_val} pairs. */
    public static void repairOptions(int fd, int[][] opts, String what) throws SysException {
        byte[] b = new byte[opts.length * 8];
        java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.nativeOrder());
        for (int[] o : opts) bb.putInt(o[0]).putInt(o[1]);
        InetSock.setBytes(fd, InetSock.SOL_TCP, TCP_REPAIR_OPTIONS, b, what + " TCP_REPAIR_OPTIONS");
    }

    /** struct tcp_repair_window (each field an unsigned 32-bit value). */
    public record Window(long sndWl1, long sndWnd, long maxWindow, long rcvWnd, long rcvWup) {
        public long[] fields() {
            return new long[]{sndWl1, sndWnd, maxWindow, rcvWnd, rcvWup};
        }
    }

    public static Window window(int fd, String what) throws SysException {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(InetSock.getBytes(fd, InetSock.SOL_TCP, TCP_REPAIR_WINDOW, 20, what + " TCP_REPAIR_WINDOW"))
                .order(java.nio.ByteOrder.nativeOrder());
        return new Window(Integer.toUnsignedLong(b.getInt()), Integer.toUnsignedLong(b.getInt()), Integer.toUnsignedLong(b.getInt()),
                Integer.toUnsignedLong(b.getInt()), Integer.toUnsignedLong(b.getInt()));
    }

    public static void setWindow(int fd, Window w, String what) throws SysException {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(20).order(java.nio.ByteOrder.nativeOrder());
        for (long v : w.fields()) b.putInt((int) v);
        InetSock.setBytes(fd, InetSock.SOL_TCP, TCP_REPAIR_WINDOW, b.array(), what + " TCP_REPAIR_WINDOW");
    }

    /** What checkpoint needs of struct tcp_info: state, tcpi_options, the window scales (4 bits each). */
    public record Info(int state, int options, int sndWscale, int rcvWscale) {
    }

    public static Info info(int fd, String what) throws SysException {
        byte[] b = InetSock.getBytes(fd, InetSock.SOL_TCP, TCP_INFO, 104, what + " TCP_INFO");
        if (b.length < 8) throw new SysException("getsockopt(" + what + " TCP_INFO): " + b.length + " bytes", Errno.EIO);
        return new Info(b[0] & 255, b[5] & 255, b[6] & 15, (b[6] >> 4) & 15);
    }

    private static int ioctlInt(int fd, long req, String call) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(4);
            Native.check(Native.raw(Nr.IOCTL, fd, req, v.address()), call);
            return v.get(JAVA_INT, 0);
        }
    }

    /** SIOCINQ: bytes not read yet (rcv_nxt - copied_seq). */
    public static int inq(int fd, String what) throws SysException {
        return ioctlInt(fd, SIOCINQ, "ioctl(" + what + ", SIOCINQ)");
    }

    /** SIOCOUTQ: bytes of the send queue not acknowledged (write_seq - snd_una). */
    public static int outq(int fd, String what) throws SysException {
        return ioctlInt(fd, SIOCOUTQ, "ioctl(" + what + ", SIOCOUTQ)");
    }

    /** SIOCOUTQNSD: bytes of the send queue never sent (write_seq - snd_nxt). */
    public static int outqNotSent(int fd, String what) throws SysException {
        return ioctlInt(fd, SIOCOUTQNSD, "ioctl(" + what + ", SIOCOUTQNSD)");
    }

    /**
     * recv(MSG_PEEK | MSG_DONTWAIT) of up to len bytes from the start of the queue TCP_REPAIR_QUEUE chose (in
     * repair mode only a peek is allowed: tcp_recvmsg_locked). Each peek starts at the queue's head, so the
     * whole queue is asked for at once; the bytes the kernel gave.
     */
    public static byte[] peekQueue(int fd, int len, String what) throws SysException {
        if (len == 0) return new byte[0];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(len);
            long r = Native.raw(RECVFROM, fd, buf.address(), len, Sock.MSG_PEEK | Sock.MSG_DONTWAIT, 0, 0);
            if (r == -Errno.EAGAIN) return new byte[0];
            long n = Native.check(r, "recv(" + what + ", MSG_PEEK)");
            return buf.asSlice(0, n).toArray(JAVA_BYTE);
        }
    }

    /** recv(MSG_OOB | MSG_PEEK | MSG_DONTWAIT) of one byte: 1 when urgent data waits, else the negative errno (EINVAL: none). */
    public static long peekUrgent(int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(1);
            return Native.raw(RECVFROM, fd, buf.address(), 1, 1 | Sock.MSG_PEEK | Sock.MSG_DONTWAIT, 0, 0);
        }
    }

    /** send(MSG_DONTWAIT | MSG_NOSIGNAL) of data from offset; the bytes taken (EAGAIN: 0). */
    public static long send(int fd, byte[] data, int offset, String what) throws SysException {
        if (offset >= data.length) return 0;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(data.length - offset);
            MemorySegment.copy(data, offset, buf, JAVA_BYTE, 0, data.length - offset);
            long r = Native.raw(Nr.SENDTO, fd, buf.address(), buf.byteSize(), Sock.MSG_DONTWAIT | Sock.MSG_NOSIGNAL, 0, 0);
            if (r == -Errno.EAGAIN) return 0;
            return Native.check(r, "send(" + what + ", " + buf.byteSize() + " bytes)");
        }
    }

    /**
     * The packet mark (SO_MARK) of the segments cryo sends itself at restart (sendSegment): a network lock that
     * drops the tree's connections' packets lets packets with this mark through.
     */
    public static final int RESTORE_MARK = 0x63727930;   // "cry0"

    /** TCP header flags. */
    public static final int FLAG_FIN = 1, FLAG_ACK = 0x10;
    private static final int SOCK_RAW_TYPE = 3, IPPROTO_RAW = 255;

    /**
     * Sends one TCP segment with no data from `from` to `to` through a raw socket (raw(7): IPPROTO_RAW, so
     * the IP header is cryo's, IP_HDRINCL): how restart makes a socket receive the FIN its peer had sent before
     * the checkpoint. The TCP checksum covers the pseudo header (RFC 793, RFC 8200 8.1); the kernel fills in
     * the IPv4 header checksum. An IPv4-mapped IPv6 pair (an IPv6 socket talking IPv4) goes as IPv4. No
     * options: no timestamp, which the receiver does not require of a segment (tcp_validate_incoming checks
     * PAWS only on a segment that has one).
     */
    public static void sendSegment(InetSock.Endpoint from, InetSock.Endpoint to, long seq, long ack, int flags, int window, String what)
            throws SysException {
        byte[] src = v4Mapped(from.addr()), dst = v4Mapped(to.addr());
        boolean v4 = src.length == 4;
        java.nio.ByteBuffer tcp = java.nio.ByteBuffer.allocate(20);
        tcp.putShort((short) from.port()).putShort((short) to.port()).putInt((int) seq).putInt((int) ack)
                .put((byte) (5 << 4)).put((byte) flags).putShort((short) Math.min(window, 65535)).putShort((short) 0).putShort((short) 0);
        java.nio.ByteBuffer pseudo = java.nio.ByteBuffer.allocate(v4 ? 12 : 40);
        pseudo.put(src).put(dst);
        if (v4) pseudo.put((byte) 0).put((byte) InetSock.IPPROTO_TCP).putShort((short) 20);
        else pseudo.putInt(20).put(new byte[3]).put((byte) InetSock.IPPROTO_TCP);
        tcp.putShort(16, (short) checksum(pseudo.array(), tcp.array()));
        java.nio.ByteBuffer ip = java.nio.ByteBuffer.allocate((v4 ? 20 : 40) + 20);
        if (v4) {
            ip.put((byte) 0x45).put((byte) 0).putShort((short) 40).putShort((short) 0).putShort((short) 0x4000)
                    .put((byte) 64).put((byte) InetSock.IPPROTO_TCP).putShort((short) 0).put(src).put(dst);
        } else {
            ip.putInt(6 << 28).putShort((short) 20).put((byte) InetSock.IPPROTO_TCP).put((byte) 64).put(src).put(dst);
        }
        ip.put(tcp.array());
        int family = v4 ? InetSock.AF_INET : InetSock.AF_INET6;
        int fd = InetSock.socket(family, SOCK_RAW_TYPE, IPPROTO_RAW);
        try (Arena a = Arena.ofConfined()) {
            Sock.setInt(fd, Sock.SOL_SOCKET, 36, RESTORE_MARK, "raw socket SO_MARK");
            MemorySegment buf = a.allocate(ip.capacity());
            MemorySegment.copy(ip.array(), 0, buf, JAVA_BYTE, 0, ip.capacity());
            MemorySegment sa = InetSock.Endpoint.of(family, dst, 0).encode(a);
            Native.check(Native.raw(Nr.SENDTO, fd, buf.address(), buf.byteSize(), 0, sa.address(), sa.byteSize()),
                    "sendto(raw TCP segment " + from + " -> " + to + ", " + what + ")");
        } finally {
            Fd.close(fd);
        }
    }

    /** The IPv4 address inside an IPv4-mapped IPv6 one (::ffff:a.b.c.d); any other address as it is. */
    private static byte[] v4Mapped(byte[] a) {
        if (a.length != 16 || a[10] != -1 || a[11] != -1) return a;
        for (int i = 0; i < 10; i++) if (a[i] != 0) return a;
        return java.util.Arrays.copyOfRange(a, 12, 16);
    }

    /** The Internet checksum (RFC 1071) of the concatenated byte strings (each of even length). */
    private static int checksum(byte[]... parts) {
        long sum = 0;
        for (byte[] p : parts) for (int i = 0; i + 1 < p.length; i += 2) sum += ((p[i] & 255) << 8) | (p[i + 1] & 255);
        while ((sum >> 16) != 0) sum = (sum & 0xffff) + (sum >> 16);
        return (int) (~sum & 0xffff);
    }

    /**
     * One TCP socket as inet_diag reports it (struct inet_diag_msg): state, addresses, rqueue/wqueue (for a
     * listener the accept queue's length and the backlog, else the bytes unread and unacknowledged), inode, and
     * sk_shutdown (INET_DIAG_SHUTDOWN; RCV_SHUTDOWN 1, SEND_SHUTDOWN 2).
     */
    public record Diag(int family, int state, InetSock.Endpoint local, InetSock.Endpoint remote, long rqueue, long wqueue,
                       long inode, int shutdown) {
    }

    private static final int INET_DIAG_SHUTDOWN = 8;

    /** Every TCP socket of family in the calling thread's network namespace whose state is in the stateMask (1 << state). */
    public static List<Diag> diag(int family, int stateMask) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            // struct nlmsghdr + struct inet_diag_req_v2 {u8 family, protocol, ext, pad; u32 states; inet_diag_sockid id}
            MemorySegment req = a.allocate(72);
            req.set(JAVA_BYTE, 16, (byte) family);
            req.set(JAVA_BYTE, 17, (byte) InetSock.IPPROTO_TCP);
            req.set(JAVA_BYTE, 18, (byte) (1 << (INET_DIAG_SHUTDOWN - 1)));
            req.set(JAVA_INT, 20, stateMask);
            return SockDiag.dump(req, 1 << 16, 72, "inet_diag(TCP, family " + family + ")", Tcp::parse);
        }
    }

    /** struct inet_diag_msg {u8 family, state, timer, retrans; sockid id (48); u32 expires, rqueue, wqueue, uid, inode} + attributes. */
    private static Diag parse(MemorySegment m) {
        int family = m.get(JAVA_BYTE, 0) & 255, state = m.get(JAVA_BYTE, 1) & 255;
        int sport = ((m.get(JAVA_BYTE, 4) & 255) << 8) | (m.get(JAVA_BYTE, 5) & 255);
        int dport = ((m.get(JAVA_BYTE, 6) & 255) << 8) | (m.get(JAVA_BYTE, 7) & 255);
        int alen = family == InetSock.AF_INET ? 4 : 16;
        InetSock.Endpoint local = null, remote = null;
        if (family == InetSock.AF_INET || family == InetSock.AF_INET6) {
            local = InetSock.Endpoint.of(family, m.asSlice(8, alen).toArray(JAVA_BYTE), sport);
            remote = InetSock.Endpoint.of(family, m.asSlice(24, alen).toArray(JAVA_BYTE), dport);
        }
        long rq = Integer.toUnsignedLong(m.get(JAVA_INT, 56)), wq = Integer.toUnsignedLong(m.get(JAVA_INT, 60));
        long inode = Integer.toUnsignedLong(m.get(JAVA_INT, 68));
        int shutdown = 0;
        for (long off = 72; off + 4 <= m.byteSize(); ) {
            int len = Short.toUnsignedInt(m.get(JAVA_SHORT, off)), type = m.get(JAVA_SHORT, off + 2) & 0x3fff;
            if (len < 4 || off + len > m.byteSize()) break;
            if (type == INET_DIAG_SHUTDOWN && len >= 5) shutdown = m.get(JAVA_BYTE, off + 4) & 3;
            off += (len + 3) & ~3;
        }
        return new Diag(family, state, local, remote, rq, wq, inode, shutdown);
    }
}
