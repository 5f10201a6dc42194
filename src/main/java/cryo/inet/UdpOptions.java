package cryo.inet;

import cryo.sys.InetSock;
import cryo.sys.Sock;
import cryo.sys.SysException;
import cryo.sys.Udp;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The socket options of a UDP socket that cryo keeps (socket(7), ip(7), ipv6(7), udp(7)): read with
 * getsockopt at checkpoint, every one the kernel knows for the socket; at restart set on the new socket where
 * its value differs, in the order of the table (IP_TOS before SO_PRIORITY: setting the TOS sets the priority
 * too, ip_sockglue.c __ip_sock_set_tos). Send and receive buffers are set with SO_SNDBUFFORCE/SO_RCVBUFFORCE
 * (the kernel doubles what it is given, sock.c __sock_set_rcvbuf), so a size the user set comes back whatever
 * net.core.rmem_max says.
 */
final class UdpOptions {
    private UdpOptions() {
    }

    /** One option: level, name, the most bytes its value has, and whether it is IPv6's (only on AF_INET6 sockets). */
    record Known(int level, int opt, String name, int room, boolean v6) {
    }

    /** An option's value as getsockopt gave it. */
    record Value(int level, int opt, byte[] value) {
        Known known() {
            return find(level, opt);
        }
    }

    static final int SO_SNDBUF = 7, SO_RCVBUF = 8;
    private static final int S = Sock.SOL_SOCKET, IP = InetSock.SOL_IP, IP6 = InetSock.SOL_IPV6, UDP = InetSock.SOL_UDP;

    /** In the order restart sets them: what must precede bind first, IP_TOS before SO_PRIORITY. */
    static final List<Known> TABLE = List.of(
            new Known(S, 25, "SO_BINDTODEVICE", 16, false),
            new Known(S, 2, "SO_REUSEADDR", 4, false),
            new Known(S, 15, "SO_REUSEPORT", 4, false),
            new Known(IP6, 26, "IPV6_V6ONLY", 4, true),
            new Known(IP, 15, "IP_FREEBIND", 4, false),
            new Known(IP, 19, "IP_TRANSPARENT", 4, false),
            new Known(IP6, 78, "IPV6_FREEBIND", 4, true),
            new Known(IP6, 75, "IPV6_TRANSPARENT", 4, true),
            new Known(IP, 24, "IP_BIND_ADDRESS_NO_PORT", 4, false),
            new Known(IP, 51, "IP_LOCAL_PORT_RANGE", 4, false),
            new Known(S, SO_SNDBUF, "SO_SNDBUF", 4, false),
            new Known(S, SO_RCVBUF, "SO_RCVBUF", 4, false),
            new Known(S, 6, "SO_BROADCAST", 4, false),
            new Known(S, 5, "SO_DONTROUTE", 4, false),
            new Known(S, 9, "SO_KEEPALIVE", 4, false),
            new Known(S, 10, "SO_OOBINLINE", 4, false),
            new Known(S, 13, "SO_LINGER", 8, false),
            new Known(S, 16, "SO_PASSCRED", 4, false),
            new Known(IP, 1, "IP_TOS", 4, false),
            new Known(S, 12, "SO_PRIORITY", 4, false),
            new Known(S, 36, "SO_MARK", 4, false),
            new Known(S, 18, "SO_RCVLOWAT", 4, false),
            new Known(S, 20, "SO_RCVTIMEO", 16, false),
            new Known(S, 21, "SO_SNDTIMEO", 16, false),
            new Known(S, 29, "SO_TIMESTAMP", 4, false),
            new Known(S, 35, "SO_TIMESTAMPNS", 4, false),
            new Known(S, 63, "SO_TIMESTAMP_NEW", 4, false),
            new Known(S, 64, "SO_TIMESTAMPNS_NEW", 4, false),
            new Known(S, 37, "SO_TIMESTAMPING", 8, false),
            new Known(S, 40, "SO_RXQ_OVFL", 4, false),
            new Known(S, 41, "SO_WIFI_STATUS", 4, false),
            new Known(S, 43, "SO_NOFCS", 4, false),
            new Known(S, 44, "SO_LOCK_FILTER", 4, false),
            new Known(S, 45, "SO_SELECT_ERR_QUEUE", 4, false),
            new Known(S, 46, "SO_BUSY_POLL", 4, false),
            new Known(S, 47, "SO_MAX_PACING_RATE", 4, false),
            new Known(S, 60, "SO_ZEROCOPY", 4, false),
            new Known(S, 61, "SO_TXTIME", 8, false),
            new Known(S, 69, "SO_PREFER_BUSY_POLL", 4, false),
            new Known(S, 70, "SO_BUSY_POLL_BUDGET", 4, false),
            new Known(S, 75, "SO_RCVMARK", 4, false),
            new Known(IP, 2, "IP_TTL", 4, false),
            new Known(IP, 4, "IP_OPTIONS", 40, false),
            new Known(IP, 6, "IP_RECVOPTS", 4, false),
            new Known(IP, 7, "IP_RETOPTS", 4, false),
            new Known(IP, 8, "IP_PKTINFO", 4, false),
            new Known(IP, 10, "IP_MTU_DISCOVER", 4, false),
            new Known(IP, 11, "IP_RECVERR", 4, false),
            new Known(IP, 12, "IP_RECVTTL", 4, false),
            new Known(IP, 13, "IP_RECVTOS", 4, false),
            new Known(IP, 18, "IP_PASSSEC", 4, false),
            new Known(IP, 20, "IP_RECVORIGDSTADDR", 4, false),
            new Known(IP, 21, "IP_MINTTL", 4, false),
            new Known(IP, 22, "IP_NODEFRAG", 4, false),
            new Known(IP, 23, "IP_CHECKSUM", 4, false),
            new Known(IP, 25, "IP_RECVFRAGSIZE", 4, false),
            new Known(IP, 26, "IP_RECVERR_RFC4884", 4, false),
            new Known(IP, 32, "IP_MULTICAST_IF", 4, false),
            new Known(IP, 33, "IP_MULTICAST_TTL", 4, false),
            new Known(IP, 34, "IP_MULTICAST_LOOP", 4, false),
            new Known(IP, 49, "IP_MULTICAST_ALL", 4, false),
            new Known(IP, 50, "IP_UNICAST_IF", 4, false),
            new Known(IP6, 16, "IPV6_UNICAST_HOPS", 4, true),
            new Known(IP6, 17, "IPV6_MULTICAST_IF", 4, true),
            new Known(IP6, 18, "IPV6_MULTICAST_HOPS", 4, true),
            new Known(IP6, 19, "IPV6_MULTICAST_LOOP", 4, true),
            new Known(IP6, 23, "IPV6_MTU_DISCOVER", 4, true),
            new Known(IP6, 25, "IPV6_RECVERR", 4, true),
            new Known(IP6, 29, "IPV6_MULTICAST_ALL", 4, true),
            new Known(IP6, 31, "IPV6_RECVERR_RFC4884", 4, true),
            new Known(IP6, 11, "IPV6_FLOWINFO", 4, true),
            new Known(IP6, 33, "IPV6_FLOWINFO_SEND", 4, true),
            new Known(IP6, 49, "IPV6_RECVPKTINFO", 4, true),
            new Known(IP6, 51, "IPV6_RECVHOPLIMIT", 4, true),
            new Known(IP6, 53, "IPV6_RECVHOPOPTS", 4, true),
            new Known(IP6, 56, "IPV6_RECVRTHDR", 4, true),
            new Known(IP6, 58, "IPV6_RECVDSTOPTS", 4, true),
            new Known(IP6, 60, "IPV6_RECVPATHMTU", 4, true),
            new Known(IP6, 62, "IPV6_DONTFRAG", 4, true),
            new Known(IP6, 66, "IPV6_RECVTCLASS", 4, true),
            new Known(IP6, 67, "IPV6_TCLASS", 4, true),
            new Known(IP6, 70, "IPV6_AUTOFLOWLABEL", 4, true),
            new Known(IP6, 72, "IPV6_ADDR_PREFERENCES", 4, true),
            new Known(IP6, 73, "IPV6_MINHOPCOUNT", 4, true),
            new Known(IP6, 74, "IPV6_RECVORIGDSTADDR", 4, true),
            new Known(IP6, 76, "IPV6_UNICAST_IF", 4, true),
            new Known(IP6, 77, "IPV6_RECVFRAGSIZE", 4, true),
            new Known(UDP, 1, "UDP_CORK", 4, false),
            new Known(UDP, 100, "UDP_ENCAP", 4, false),
            new Known(UDP, 101, "UDP_NO_CHECK6_TX", 4, false),
            new Known(UDP, 102, "UDP_NO_CHECK6_RX", 4, false),
            new Known(UDP, 103, "UDP_SEGMENT", 4, false),
            new Known(UDP, 104, "UDP_GRO", 4, false));

    /** The table entry of level/opt; null if cryo does not know it. */
    static Known find(int level, int opt) {
        for (Known k : TABLE) if (k.level == level && k.opt == opt) return k;
        return null;
    }

    /** Every option of the table the kernel gives for socket fd of family. */
    static List<Value> read(int fd, int family, String what) throws SysException {
        List<Value> l = new ArrayList<>();
        for (Known k : TABLE) {
            if (k.v6 && family != InetSock.AF_INET6) continue;
            byte[] v = Udp.option(fd, k.level, k.opt, k.room, what);
            if (v != null) l.add(new Value(k.level, k.opt, v));
        }
        return l;
    }

    /**
     * Sets on fd, a new socket, every option of want, in table order, where its value differs. An option not in
     * want is to keep the value a new socket has: those a later setsockopt changed on the side (SO_PRIORITY by
     * IP_TOS) are set back in a second pass; what still differs after it fails the restart.
     */
    static void apply(int fd, int family, List<Value> want, String what) throws SysException {
        List<Value> target = new ArrayList<>(read(fd, family, what));
        target.removeIf(f -> of(want, f.known()) != null);
        target.addAll(want);
        for (int pass = 0; pass < 3; pass++) {
            List<Value> now = read(fd, family, what);
            for (Known k : TABLE) {
                Value w = of(target, k), n = of(now, k);
                if (w == null || (n != null && Arrays.equals(w.value, n.value))) continue;
                if (pass == 2) {
                    throw new SysException("setsockopt(" + what + "): " + k.name + " is " + (n == null ? "unknown" : text(n.value))
                            + " after setting " + text(w.value), cryo.sys.Errno.EINVAL);
                }
                set(fd, k, w.value, what);
            }
        }
    }

    private static void set(int fd, Known k, byte[] v, String what) throws SysException {
        if (k.level == S && (k.opt == SO_SNDBUF || k.opt == SO_RCVBUF) && v.length == 4) {
            // getsockopt gives twice what was asked for (sock.c sk_setsockopt): the FORCE variants double again
            int size = java.nio.ByteBuffer.wrap(v).order(java.nio.ByteOrder.nativeOrder()).getInt();
            Sock.setInt(fd, S, k.opt == SO_SNDBUF ? Sock.SO_SNDBUFFORCE : Sock.SO_RCVBUFFORCE, size / 2, what + " " + k.name);
            return;
        }
        InetSock.setBytes(fd, k.level, k.opt, v, what + " " + k.name);
    }

    private static Value of(List<Value> l, Known k) {
        for (Value v : l) if (v.level == k.level && v.opt == k.opt) return v;
        return null;
    }

    /** An int option as a number, anything else in hex. */
    static String text(byte[] v) {
        if (v.length == 4) return Integer.toString(java.nio.ByteBuffer.wrap(v).order(java.nio.ByteOrder.nativeOrder()).getInt());
        if (printable(v)) return "\"" + new String(v, 0, len0(v), java.nio.charset.StandardCharsets.US_ASCII) + "\"";
        return "0x" + java.util.HexFormat.of().formatHex(v);
    }

    private static boolean printable(byte[] v) {
        if (v.length == 0 || v.length > 16) return false;
        for (int i = 0; i < len0(v); i++) if (v[i] < 32 || v[i] > 126) return false;
        return len0(v) > 0;
    }

    private static int len0(byte[] v) {
        int n = 0;
        while (n < v.length && v[n] != 0) n++;
        return n;
    }

    /** The options of v whose values differ from those of a new socket (fresh): what the image keeps. */
    static List<Value> changed(List<Value> v, List<Value> fresh) {
        List<Value> l = new ArrayList<>();
        for (Value x : v) {
            Value f = null;
            for (Value y : fresh) if (y.level == x.level && y.opt == x.opt) f = y;
            if (f == null || !Arrays.equals(f.value, x.value)) l.add(x);
        }
        return l;
    }
}
