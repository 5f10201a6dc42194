package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.HexFormat;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * IPv4 and IPv6 socket addresses and the calls that take them (ip(7), ipv6(7)), on cryo's own fds: checkpoint
 * reads a task's socket through a duplicate (Proc.pidfdGetfd), restart creates sockets here for the fd broker.
 * Shared by every inet kind (TCP, UDP) and the network lock.
 */
public final class InetSock {
    public static final int AF_INET = 2, AF_INET6 = 10;
    public static final int IPPROTO_IP = 0, IPPROTO_TCP = 6, IPPROTO_UDP = 17, IPPROTO_IPV6 = 41;
    public static final int SOL_IP = 0, SOL_TCP = 6, SOL_UDP = 17, SOL_IPV6 = 41;
    public static final int SO_PROTOCOL = 38, SO_DOMAIN = 39;
    /** sizeof(struct sockaddr_in6), the larger of the two. */
    private static final int SOCKADDR_MAX = 28;

    private InetSock() {
    }

    /**
     * An IPv4 or IPv6 address and port: struct sockaddr_in / sockaddr_in6 (addr is 4 or 16 bytes in network
     * order; flowInfo and scopeId are IPv6's, 0 for IPv4).
     */
    public record Endpoint(int family, byte[] addr, int port, int flowInfo, int scopeId) {
        public Endpoint {
            if (family != AF_INET && family != AF_INET6) throw new IllegalArgumentException("address family " + family + " is not inet");
            if (addr.length != (family == AF_INET ? 4 : 16)) throw new IllegalArgumentException("address of " + addr.length + " bytes for family " + family);
            if (port < 0 || port > 65535) throw new IllegalArgumentException("port " + port);
            addr = addr.clone();
        }

        public static Endpoint of(int family, byte[] addr, int port) {
            return new Endpoint(family, addr, port, 0, 0);
        }

        public byte[] addr() {
            return addr.clone();
        }

        /** The wildcard address with no port (INADDR_ANY / in6addr_any): what an unbound socket reports. */
        public boolean isUnspecified() {
            for (byte b : addr) if (b != 0) return false;
            return port == 0;
        }

        /** An IPv4 address on an IPv6 socket: ::ffff:a.b.c.d. */
        public boolean isV4Mapped() {
            if (family != AF_INET6) return false;
            for (int i = 0; i < 10; i++) if (addr[i] != 0) return false;
            return addr[10] == (byte) 0xff && addr[11] == (byte) 0xff;
        }

        /** "127.0.0.1:8080", "[::1]:8080" (numeric, RFC 5952: the longest run of zero groups as "::"; never a name lookup). */
        @Override
        public String toString() {
            if (family == AF_INET) return (addr[0] & 255) + "." + (addr[1] & 255) + "." + (addr[2] & 255) + "." + (addr[3] & 255) + ":" + port;
            if (isV4Mapped()) return "[::ffff:" + (addr[12] & 255) + "." + (addr[13] & 255) + "." + (addr[14] & 255) + "." + (addr[15] & 255) + "]:" + port;
            int[] g = new int[8];
            for (int i = 0; i < 8; i++) g[i] = ((addr[2 * i] & 255) << 8) | (addr[2 * i + 1] & 255);
            int best = -1, bestLen = 1;
            for (int i = 0; i < 8; ) {
                int j = i;
                while (j < 8 && g[j] == 0) j++;
                if (j - i > bestLen) { best = i; bestLen = j - i; }
                i = j == i ? i + 1 : j;
            }
            StringBuilder b = new StringBuilder("[");
            for (int i = 0; i < 8; i++) {
                if (i == best) {
                    b.append("::");
                    i += bestLen - 1;
                    continue;
                }
                if (b.length() > 1 && b.charAt(b.length() - 1) != ':') b.append(':');
                b.append(Integer.toHexString(g[i]));
            }
            return b.append("]:").append(port).toString();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Endpoint e && e.family == family && e.port == port && e.flowInfo == flowInfo
                    && e.scopeId == scopeId && Arrays.equals(e.addr, addr);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(addr) * 31 + port * 7 + family;
        }

        /** The address alone in hex, for an image dump or a key. */
        public String addrHex() {
            return HexFormat.of().formatHex(addr);
        }

        MemorySegment encode(Arena a) {
            MemorySegment sa = a.allocate(SOCKADDR_MAX);
            sa.set(JAVA_SHORT, 0, (short) family);
            sa.set(JAVA_BYTE, 2, (byte) (port >>> 8));
            sa.set(JAVA_BYTE, 3, (byte) port);
            if (family == AF_INET) {
                MemorySegment.copy(addr, 0, sa, JAVA_BYTE, 4, 4);
                return sa.asSlice(0, 16);
            }
            sa.set(JAVA_INT, 4, Integer.reverseBytes(flowInfo));   // sin6_flowinfo is in network order
            MemorySegment.copy(addr, 0, sa, JAVA_BYTE, 8, 16);
            sa.set(JAVA_INT, 24, scopeId);
            return sa;
        }

        static Endpoint decode(MemorySegment sa, int len) {
            int family = sa.get(JAVA_SHORT, 0) & 0xffff;
            int port = ((sa.get(JAVA_BYTE, 2) & 255) << 8) | (sa.get(JAVA_BYTE, 3) & 255);
            if (family == AF_INET && len >= 8) return new Endpoint(family, sa.asSlice(4, 4).toArray(JAVA_BYTE), port, 0, 0);
            if (family == AF_INET6 && len >= 24) {
                int scope = len >= 28 ? sa.get(JAVA_INT, 24) : 0;
                return new Endpoint(family, sa.asSlice(8, 16).toArray(JAVA_BYTE), port, Integer.reverseBytes(sa.get(JAVA_INT, 4)), scope);
            }
            return null;
        }
    }

    /** socket(family, type | SOCK_CLOEXEC, protocol). */
    public static int socket(int family, int type, int protocol) throws SysException {
        return (int) Native.check(Native.raw(Nr.SOCKET, family, type | Sock.SOCK_CLOEXEC, protocol),
                "socket(" + family + ", " + type + ", " + protocol + ")");
    }

    /** The socket's own address (getsockname(2)); null if the socket is not inet (or not bound: family 0). */
    public static Endpoint name(int fd, String what) throws SysException {
        return address(Nr.GETSOCKNAME, fd, "getsockname(" + what + ")");
    }

    /** The peer's address (getpeername(2)); null when not connected (ENOTCONN). */
    public static Endpoint peer(int fd, String what) throws SysException {
        return address(Nr.GETPEERNAME, fd, "getpeername(" + what + ")");
    }

    private static Endpoint address(int nr, int fd, String call) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = a.allocate(SOCKADDR_MAX), len = a.allocate(4);
            len.set(JAVA_INT, 0, SOCKADDR_MAX);
            long r = Native.raw(nr, fd, sa.address(), len.address());
            if (r == -Errno.ENOTCONN) return null;
            Native.check(r, call);
            return Endpoint.decode(sa, len.get(JAVA_INT, 0));
        }
    }

    public static void bind(int fd, Endpoint e, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = e.encode(a);
            Native.check(Native.raw(Nr.BIND, fd, sa.address(), sa.byteSize()), "bind(" + what + ", " + e + ")");
        }
    }

    /** connect(2); a non-blocking socket's EINPROGRESS is returned as is (negative errno), every other error thrown. */
    public static long connect(int fd, Endpoint e, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = e.encode(a);
            long r = Native.raw(Nr.CONNECT, fd, sa.address(), sa.byteSize());
            if (r == -Errno.EINPROGRESS) return r;
            return Native.check(r, "connect(" + what + ", " + e + ")");
        }
    }

    /** getsockopt of a byte string (TCP_CONGESTION, SO_BINDTODEVICE...): up to room bytes, as many as the kernel gave. */
    public static byte[] getBytes(int fd, int level, int opt, int room, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(Math.max(room, 1)), len = a.allocate(4);
            len.set(JAVA_INT, 0, room);
            Native.check(Native.raw(Nr.GETSOCKOPT, fd, level, opt, v.address(), len.address()), "getsockopt(" + what + ", " + level + ", " + opt + ")");
            return v.asSlice(0, len.get(JAVA_INT, 0)).toArray(JAVA_BYTE);
        }
    }

    /** setsockopt of a byte string or struct (SO_LINGER, TCP_CONGESTION, TCP_REPAIR_WINDOW...). */
    public static void setBytes(int fd, int level, int opt, byte[] value, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(Math.max(value.length, 1));
            MemorySegment.copy(value, 0, v, JAVA_BYTE, 0, value.length);
            Native.check(Native.raw(Nr.SETSOCKOPT, fd, level, opt, v.address(), value.length), "setsockopt(" + what + ", " + level + ", " + opt + ")");
        }
    }
}
