package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/** Network interface flags in the calling thread's network namespace (netdevice(7) SIOCGIFFLAGS). */
public final class Net {
    public static final int AF_INET = 2, SOCK_DGRAM = 2, SOCK_CLOEXEC = 02000000;
    public static final int SIOCGIFCONF = 0x8912, SIOCGIFFLAGS = 0x8913, SIOCSIFFLAGS = 0x8914, IFF_UP = 1;
    /** struct ifreq: the name (IFNAMSIZ 16 bytes), then a union whose ifr_flags is a short. */
    public static final int IFREQ_SIZE = 40, IFREQ_FLAGS = 16;

    private Net() {
    }

    /** The flags of interface name (IFF_UP...), in the namespace of the calling thread (socket(2) uses it). */
    public static int interfaceFlags(String name) throws SysException {
        int fd = (int) Native.check(Native.raw(Nr.SOCKET, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket(AF_INET, SOCK_DGRAM)");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = ifreq(a, name);
            Native.check(Native.raw(Nr.IOCTL, fd, SIOCGIFFLAGS, ifr.address()), "ioctl(SIOCGIFFLAGS, " + name + ")");
            return ifr.get(JAVA_SHORT, IFREQ_FLAGS) & 0xffff;
        } finally {
            Fd.close(fd);
        }
    }

    /** Sets or clears IFF_UP on interface name, in the namespace of the calling thread (SIOCSIFFLAGS). */
    public static void setInterfaceUp(String name, boolean up) throws SysException {
        int fd = (int) Native.check(Native.raw(Nr.SOCKET, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket(AF_INET, SOCK_DGRAM)");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = ifreq(a, name);
            Native.check(Native.raw(Nr.IOCTL, fd, SIOCGIFFLAGS, ifr.address()), "ioctl(SIOCGIFFLAGS, " + name + ")");
            short flags = ifr.get(JAVA_SHORT, IFREQ_FLAGS);
            ifr.set(JAVA_SHORT, IFREQ_FLAGS, (short) (up ? flags | IFF_UP : flags & ~IFF_UP));
            Native.check(Native.raw(Nr.IOCTL, fd, SIOCSIFFLAGS, ifr.address()), "ioctl(SIOCSIFFLAGS, " + name + (up ? " up)" : " down)"));
        } finally {
            Fd.close(fd);
        }
    }

    /**
     * Every IPv4 address of the calling thread's namespace, "ADDRESS on LABEL", whether its interface is up or
     * down (SIOCGIFCONF: one struct ifreq with a sockaddr_in per address; struct ifconf is ifc_len, then ifc_buf).
     */
    public static java.util.List<String> ipv4Addresses() throws SysException {
        int fd = (int) Native.check(Native.raw(Nr.SOCKET, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket(AF_INET, SOCK_DGRAM)");
        try (Arena a = Arena.ofConfined()) {
            for (int n = 64; ; n *= 4) {
                MemorySegment buf = a.allocate((long) n * IFREQ_SIZE), ifc = a.allocate(16);
                ifc.set(java.lang.foreign.ValueLayout.JAVA_INT, 0, n * IFREQ_SIZE);
                ifc.set(java.lang.foreign.ValueLayout.JAVA_LONG, 8, buf.address());
                Native.check(Native.raw(Nr.IOCTL, fd, SIOCGIFCONF, ifc.address()), "ioctl(SIOCGIFCONF)");
                int len = ifc.get(java.lang.foreign.ValueLayout.JAVA_INT, 0);
                if (len >= n * IFREQ_SIZE) continue;   // maybe cut short: ask again with more room
                java.util.List<String> out = new java.util.ArrayList<>();
                for (int off = 0; off + IFREQ_SIZE <= len; off += IFREQ_SIZE) {
                    String label = buf.getString(off);
                    byte[] addr = buf.asSlice(off + 20, 4).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                    out.add((addr[0] & 255) + "." + (addr[1] & 255) + "." + (addr[2] & 255) + "." + (addr[3] & 255) + " on " + label);
                }
                return out;
            }
        } finally {
            Fd.close(fd);
        }
    }

    /** A struct ifreq naming interface name, flags zero. */
    public static MemorySegment ifreq(Arena a, String name) {
        MemorySegment ifr = a.allocate(IFREQ_SIZE);
        byte[] n = name.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        MemorySegment.copy(n, 0, ifr, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, Math.min(n.length, 15));
        return ifr;
    }
}
