package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/** Network interface flags in the calling thread's network namespace (netdevice(7) SIOCGIFFLAGS). */
public final class Net {
    public static final int AF_INET = 2, SOCK_DGRAM = 2, SOCK_CLOEXEC = 02000000;
    public static final int SIOCGIFFLAGS = 0x8913, SIOCSIFFLAGS = 0x8914, IFF_UP = 1;
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

    /** Sets IFF_UP on interface name, in the namespace of the calling thread (SIOCSIFFLAGS). */
    public static void interfaceUp(String name) throws SysException {
        int fd = (int) Native.check(Native.raw(Nr.SOCKET, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket(AF_INET, SOCK_DGRAM)");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = ifreq(a, name);
            Native.check(Native.raw(Nr.IOCTL, fd, SIOCGIFFLAGS, ifr.address()), "ioctl(SIOCGIFFLAGS, " + name + ")");
            ifr.set(JAVA_SHORT, IFREQ_FLAGS, (short) (ifr.get(JAVA_SHORT, IFREQ_FLAGS) | IFF_UP));
            Native.check(Native.raw(Nr.IOCTL, fd, SIOCSIFFLAGS, ifr.address()), "ioctl(SIOCSIFFLAGS, " + name + " up)");
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
