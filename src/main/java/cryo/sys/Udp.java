package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * UDP sockets (udp(7)) on cryo's own fds: a peek at one queued datagram with where it came from and went to,
 * the bytes still unsent (corked), and the injection of a datagram with a given source through a raw socket
 * (raw(7)), which is how restart puts a receive queue back.
 */
public final class Udp {
    public static final int SOCK_DGRAM = 2, SOCK_RAW = 3;
    public static final int IPPROTO_ICMP = 1, IPPROTO_UDPLITE = 136, IPPROTO_ICMPV6 = 58, IPPROTO_RAW = 255;
    /** Options peek turns on for a moment to learn each datagram's destination, TOS/traffic class and TTL/hop limit. */
    public static final int IP_TOS = 1, IP_TTL = 2, IP_PKTINFO = 8, IP_RECVTTL = 12, IP_RECVTOS = 13, IP_TRANSPARENT = 19;
    public static final int IPV6_CHECKSUM = 7, IPV6_RECVPKTINFO = 49, IPV6_PKTINFO = 50, IPV6_RECVHOPLIMIT = 51, IPV6_HOPLIMIT = 52,
            IPV6_RECVTCLASS = 66, IPV6_TCLASS = 67, IPV6_TRANSPARENT = 75;
    public static final int MCAST_MSFILTER = 48, MCAST_JOIN_GROUP = 42;
    public static final int ENOPROTOOPT = 92, EADDRNOTAVAIL = 99;
    private static final int SO_GET_FILTER = 26, SIOCOUTQ = 0x5411, MSG_PEEK = 2, MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40;
    /** The largest UDP payload (a 16-bit length, less the 8-byte header): what a peek needs room for. */
    public static final int MAX_PAYLOAD = 65535 - 8;

    private Udp() {
    }

    /**
     * One datagram of a receive queue: its data, its sender, and what the kernel's control messages tell of it
     * (the options of the peek turned on): the address it was sent to (4 or 16 bytes, or empty if not told), the
     * interface it came in on (0 if not told), its IPv4 TOS or IPv6 traffic class and TTL or hop limit (-1 if
     * not told).
     */
    public record Datagram(byte[] data, InetSock.Endpoint from, byte[] to, int ifindex, int tos, int ttl) {
    }

    /**
     * recvmsg(MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC) of the datagram at the socket's peek offset (SO_PEEK_OFF
     * moves past it, udp_recvmsg); null when no more is queued. The buffer is as large as any UDP payload,
     * so none is cut short.
     */
    public static Datagram peek(int fd, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(MAX_PAYLOAD + 1), name = a.allocate(28), control = a.allocate(512);
            MemorySegment iov = a.allocate(16), msg = a.allocate(56);
            iov.set(JAVA_LONG, 0, buf.address());
            iov.set(JAVA_LONG, 8, buf.byteSize());
            msg.set(JAVA_LONG, 0, name.address());
            msg.set(JAVA_INT, 8, (int) name.byteSize());
            msg.set(JAVA_LONG, 16, iov.address());
            msg.set(JAVA_LONG, 24, 1);
            msg.set(JAVA_LONG, 32, control.address());
            msg.set(JAVA_LONG, 40, control.byteSize());
            long r = Native.raw(Nr.RECVMSG, fd, msg.address(), MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);
            if (r == -Errno.EAGAIN) return null;
            long n = Native.check(r, "recvmsg(" + what + ", MSG_PEEK)");
            if (n > buf.byteSize()) throw new SysException("recvmsg(" + what + ", MSG_PEEK): a datagram of " + n + " bytes", Sock.EMSGSIZE);
            byte[] to = new byte[0];
            int ifindex = 0, tos = -1, ttl = -1;
            long clen = msg.get(JAVA_LONG, 40);
            for (long off = 0; off + 16 <= clen; ) {
                long len = control.get(JAVA_LONG, off);
                int level = control.get(JAVA_INT, off + 8), type = control.get(JAVA_INT, off + 12);
                if (len < 16) break;
                if (level == InetSock.SOL_IP && type == IP_PKTINFO && len >= 28) {
                    ifindex = control.get(JAVA_INT, off + 16);
                    to = control.asSlice(off + 24, 4).toArray(JAVA_BYTE);
                } else if (level == InetSock.SOL_IP && type == IP_TTL && len >= 20) {
                    ttl = control.get(JAVA_INT, off + 16);
                } else if (level == InetSock.SOL_IP && type == IP_TOS && len >= 17) {
                    tos = control.get(JAVA_BYTE, off + 16) & 255;
                } else if (level == InetSock.SOL_IPV6 && type == IPV6_PKTINFO && len >= 36) {
                    to = control.asSlice(off + 16, 16).toArray(JAVA_BYTE);
                    ifindex = control.get(JAVA_INT, off + 32);
                } else if (level == InetSock.SOL_IPV6 && type == IPV6_HOPLIMIT && len >= 20) {
                    ttl = control.get(JAVA_INT, off + 16);
                } else if (level == InetSock.SOL_IPV6 && type == IPV6_TCLASS && len >= 20) {
                    tos = control.get(JAVA_INT, off + 16);
                }
                off += (len + 7) & ~7L;
            }
            InetSock.Endpoint from = InetSock.Endpoint.decode(name, msg.get(JAVA_INT, 8));
            return new Datagram(buf.asSlice(0, n).toArray(JAVA_BYTE), from, to, ifindex, tos, ttl);
        }
    }

    /** Bytes the socket holds that are not sent yet (ioctl SIOCOUTQ: sk_wmem_alloc, corked data among it). */
    public static int unsent(int fd, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(4);
            Native.check(Native.raw(Nr.IOCTL, fd, SIOCOUTQ, n.address()), "ioctl(" + what + ", SIOCOUTQ)");
            return n.get(JAVA_INT, 0);
        }
    }

    /**
     * The instructions of the socket filter attached to fd (getsockopt SO_GET_FILTER with no room answers the
     * count, net/core/filter.c sk_get_filter); -1 for an eBPF program, which cannot be read back (EACCES).
     */
    public static int filterLength(int fd, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment len = a.allocate(4);
            long r = Native.raw(Nr.GETSOCKOPT, fd, Sock.SOL_SOCKET, SO_GET_FILTER, 0, len.address());
            if (r == -Errno.EACCES) return -1;
            Native.check(r, "getsockopt(" + what + ", SO_GET_FILTER)");
            return len.get(JAVA_INT, 0);
        }
    }

    /**
     * The source filter of socket fd for multicast group (an address, no port) on interface ifindex, as
     * {filter mode (MCAST_EXCLUDE 0, MCAST_INCLUDE 1), number of sources}; null if the socket did not join it.
     * getsockopt MCAST_MSFILTER answers only for a group the socket joined, EADDRNOTAVAIL otherwise
     * (ip_sockglue.c ip_mc_gsfget, mcast.c ip6_mc_msfget).
     */
    public static int[] joined(int fd, int ifindex, InetSock.Endpoint group, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment gf = a.allocate(272), len = a.allocate(4);   // struct group_filter with room for one source
            gf.set(JAVA_INT, 0, ifindex);
            MemorySegment.copy(group.encode(a), 0, gf, 8, group.family() == InetSock.AF_INET ? 16 : 28);
            len.set(JAVA_INT, 0, 272);
            int level = group.family() == InetSock.AF_INET ? InetSock.SOL_IP : InetSock.SOL_IPV6;
            long r = Native.raw(Nr.GETSOCKOPT, fd, level, MCAST_MSFILTER, gf.address(), len.address());
            if (r == -EADDRNOTAVAIL || r == -Errno.EINVAL || r == -ENOPROTOOPT) return null;
            Native.check(r, "getsockopt(" + what + ", MCAST_MSFILTER " + group + ")");
            return new int[]{gf.get(JAVA_INT, 136), gf.get(JAVA_INT, 140)};
        }
    }

    /** setsockopt MCAST_JOIN_GROUP (struct group_req): socket fd joins group on interface ifindex, every source. */
    public static void joinGroup(int fd, int ifindex, InetSock.Endpoint group, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment req = a.allocate(136);
            req.set(JAVA_INT, 0, ifindex);
            MemorySegment.copy(group.encode(a), 0, req, 8, group.family() == InetSock.AF_INET ? 16 : 28);
            int level = group.family() == InetSock.AF_INET ? InetSock.SOL_IP : InetSock.SOL_IPV6;
            Native.check(Native.raw(Nr.SETSOCKOPT, fd, level, MCAST_JOIN_GROUP, req.address(), req.byteSize()),
                    "setsockopt(" + what + ", MCAST_JOIN_GROUP " + group + " on interface " + ifindex + ")");
        }
    }

    /**
     * getsockopt of up to room bytes; null when the kernel does not know the option for this socket
     * (ENOPROTOOPT, EOPNOTSUPP, EINVAL: an option of another family or a newer kernel).
     */
    public static byte[] option(int fd, int level, int opt, int room, String what) throws SysException {
        try {
            return InetSock.getBytes(fd, level, opt, room, what);
        } catch (SysException e) {
            if (e.errno() == ENOPROTOOPT || e.errno() == Errno.EOPNOTSUPP || e.errno() == Errno.EINVAL) return null;
            throw e;
        }
    }

    /**
     * A raw socket to put datagrams into a receive queue with any source: IPv4 with the header written here
     * (IPPROTO_RAW implies IP_HDRINCL), IPv6 with IPPROTO_UDP and the kernel's checksum (IPV6_CHECKSUM at the
     * UDP header's offset 6); transparent, so a source address no interface has is allowed (ip(7), ipv6(7)).
     */
    public static int rawSocket(int family) throws SysException {
        boolean v4 = family == InetSock.AF_INET;
        int fd = InetSock.socket(family, SOCK_RAW, v4 ? IPPROTO_RAW : InetSock.IPPROTO_UDP);
        try {
            if (v4) {
                Sock.setInt(fd, InetSock.SOL_IP, IP_TRANSPARENT, 1, "raw socket");
            } else {
                Sock.setInt(fd, InetSock.SOL_IPV6, IPV6_CHECKSUM, 6, "raw socket");
                Sock.setInt(fd, InetSock.SOL_IPV6, IPV6_TRANSPARENT, 1, "raw socket");
            }
            return fd;
        } catch (SysException e) {
            Fd.close(fd);
            throw e;
        }
    }

    /**
     * Sends one UDP datagram from `from` to `to` through raw socket fd (rawSocket of the same family), with
     * TOS/traffic class tos and TTL/hop limit ttl (-1: the default).
     */
    public static void inject(int fd, InetSock.Endpoint from, InetSock.Endpoint to, int tos, int ttl, byte[] data, String what) throws SysException {
        if (data.length > MAX_PAYLOAD) throw new SysException("sendmsg(" + what + "): " + data.length + " bytes", Sock.EMSGSIZE);
        boolean v4 = to.family() == InetSock.AF_INET;
        int head = v4 ? 28 : 8;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment pkt = a.allocate(head + data.length + 1);
            int udp = v4 ? 20 : 0;
            if (v4) {
                pkt.set(JAVA_BYTE, 0, (byte) 0x45);
                pkt.set(JAVA_BYTE, 1, (byte) Math.max(tos, 0));
                pkt.set(JAVA_SHORT, 2, Short.reverseBytes((short) (head + data.length)));   // id 0: the kernel picks one
                pkt.set(JAVA_BYTE, 8, (byte) (ttl < 0 ? 64 : ttl));
                pkt.set(JAVA_BYTE, 9, (byte) InetSock.IPPROTO_UDP);
                MemorySegment.copy(from.addr(), 0, pkt, JAVA_BYTE, 12, 4);
                MemorySegment.copy(to.addr(), 0, pkt, JAVA_BYTE, 16, 4);
            }
            pkt.set(JAVA_SHORT, udp, Short.reverseBytes((short) from.port()));
            pkt.set(JAVA_SHORT, udp + 2, Short.reverseBytes((short) to.port()));
            pkt.set(JAVA_SHORT, udp + 4, Short.reverseBytes((short) (8 + data.length)));   // IPv4 checksum 0: none (RFC 768)
            MemorySegment.copy(data, 0, pkt, JAVA_BYTE, head, data.length);
            MemorySegment dst = new InetSock.Endpoint(to.family(), to.addr(), 0, 0, to.scopeId()).encode(a);
            MemorySegment iov = a.allocate(16), msg = a.allocate(56), control = a.allocate(88);
            iov.set(JAVA_LONG, 0, pkt.address());
            iov.set(JAVA_LONG, 8, head + data.length);
            msg.set(JAVA_LONG, 0, dst.address());
            msg.set(JAVA_INT, 8, (int) dst.byteSize());
            msg.set(JAVA_LONG, 16, iov.address());
            msg.set(JAVA_LONG, 24, 1);
            if (!v4) {
                long off = cmsg(control, 0, IPV6_PKTINFO, 20);
                MemorySegment.copy(from.addr(), 0, control, JAVA_BYTE, 16, 16);
                if (ttl >= 0) {
                    control.set(JAVA_INT, off + 16, ttl);
                    off = cmsg(control, off, IPV6_HOPLIMIT, 4);
                }
                if (tos >= 0) {
                    control.set(JAVA_INT, off + 16, tos);
                    off = cmsg(control, off, IPV6_TCLASS, 4);
                }
                msg.set(JAVA_LONG, 32, control.address());
                msg.set(JAVA_LONG, 40, off);
            }
            Native.check(Native.raw(Nr.SENDMSG, fd, msg.address(), MSG_DONTWAIT), "sendmsg(" + what + ", raw UDP " + from + " -> " + to + ")");
        }
    }

    /** Writes an IPv6 cmsghdr of len data bytes at off; returns the offset after it (CMSG_SPACE). */
    private static long cmsg(MemorySegment control, long off, int type, int len) {
        control.set(JAVA_LONG, off, 16 + len);
        control.set(JAVA_INT, off + 8, InetSock.SOL_IPV6);
        control.set(JAVA_INT, off + 12, type);
        return off + 16 + ((len + 7) & ~7);
    }
}
