package cryo.inet;

import cryo.sys.InetSock;
import cryo.sys.Sock;
import cryo.sys.SysException;
import cryo.sys.Tcp;

import java.util.ArrayList;
import java.util.List;

/**
 * The integer socket options a TCP socket keeps (socket(7), tcp(7), ip(7), ipv6(7)). Checkpoint records those
 * whose value differs from a new socket's of the same family; restart sets each on the new socket when it
 * differs there. In the image an option is (level << 16 | name) << 32 | value.
 */
final class TcpOptions {
    private TcpOptions() {
    }

    /** One option: where it applies (v4 / v6 sockets, listeners). */
    record Option(int level, int name, String text, boolean v4, boolean v6, boolean listenerOnly) {
        int key() {
            return level << 16 | name;
        }
    }

    static final int SO_REUSEADDR = 2, SO_LINGER = 13;
    private static final int SO_KEEPALIVE = 9, SO_OOBINLINE = 10, SO_PRIORITY = 12, SO_REUSEPORT = 15, SO_MARK = 36;
    private static final int IP_TOS = 1, IP_TTL = 2, IPV6_UNICAST_HOPS = 16, IPV6_V6ONLY = 26, IPV6_TCLASS = 67;
    static final int KEY_REUSEADDR = Sock.SOL_SOCKET << 16 | SO_REUSEADDR;

    static final List<Option> ALL = List.of(
            new Option(Sock.SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR", true, true, false),
            new Option(Sock.SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT", true, true, false),
            new Option(Sock.SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", true, true, false),
            new Option(Sock.SOL_SOCKET, SO_OOBINLINE, "SO_OOBINLINE", true, true, false),
            new Option(Sock.SOL_SOCKET, SO_PRIORITY, "SO_PRIORITY", true, true, false),
            new Option(Sock.SOL_SOCKET, SO_MARK, "SO_MARK", true, true, false),
            new Option(InetSock.SOL_IP, IP_TOS, "IP_TOS", true, false, false),
            new Option(InetSock.SOL_IP, IP_TTL, "IP_TTL", true, false, false),
            new Option(InetSock.SOL_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY", false, true, false),
            new Option(InetSock.SOL_IPV6, IPV6_TCLASS, "IPV6_TCLASS", false, true, false),
            new Option(InetSock.SOL_IPV6, IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS", false, true, false),
            new Option(InetSock.SOL_TCP, Tcp.TCP_NODELAY, "TCP_NODELAY", true, true, false),
            new Option(InetSock.SOL_TCP, Tcp.TCP_CORK, "TCP_CORK", true, true, false),
            new Option(InetSock.SOL_TCP, Tcp.TCP_KEEPIDLE, "TCP_KEEPIDLE", true, true, false),
            new Option(InetSock.SOL_TCP, Tcp.TCP_KEEPINTVL, "TCP_KEEPINTVL", true, true, false),
            new Option(InetSock.SOL_TCP, Tcp.TCP_KEEPCNT, "TCP_KEEPCNT", true, true, false),
            new Option(InetSock.SOL_TCP, Tcp.TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", true, true, false),
            new Option(InetSock.SOL_TCP, Tcp.TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT", true, true, true),
            new Option(InetSock.SOL_TCP, Tcp.TCP_FASTOPEN, "TCP_FASTOPEN", true, true, true));

    static Option byKey(int key) {
        for (Option o : ALL) if (o.key() == key) return o;
        return null;
    }

    static String text(long packed) {
        Option o = byKey((int) (packed >>> 32));
        return (o == null ? "?" : o.text()) + "=" + (int) packed;
    }

    /** The options of the socket fd whose value differs from those of the new socket fresh (same family). */
    static long[] read(int fd, int fresh, int family, boolean listening, String what) throws SysException {
        List<Long> out = new ArrayList<>();
        for (Option o : ALL) {
            if (!(family == InetSock.AF_INET ? o.v4() : o.v6()) || (o.listenerOnly() && !listening)) continue;
            int v = Sock.getInt(fd, o.level(), o.name(), what + " " + o.text());
            if (v != Sock.getInt(fresh, o.level(), o.name(), "a new TCP socket " + o.text())) out.add((long) o.key() << 32 | (v & 0xffffffffL));
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    /** Sets each option the socket fd does not have already (the value of `only` alone when only is not 0). */
    static void apply(int fd, long[] options, int only, String what) throws SysException {
        for (long p : options) {
            int key = (int) (p >>> 32), value = (int) p;
            if (only != 0 && key != only) continue;
            Option o = byKey(key);
            if (Sock.getInt(fd, o.level(), o.name(), what + " " + o.text()) != value) Sock.setInt(fd, o.level(), o.name(), value, what + " " + o.text());
        }
    }
}
