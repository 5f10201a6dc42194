package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * What cryo reads and puts back in a pseudo-terminal pair (cryo.tty): reads and writes that may find nothing
 * waiting, fstat's device numbers, TIOCGDEV (which terminal a /dev/tty fd is) and TIOCSTI (a byte put into a
 * terminal's input as if it had arrived: drivers/tty/tty_io.c tiocsti(), which runs the line discipline in the
 * caller at once; it needs CAP_SYS_ADMIN on a terminal that is not the caller's own).
 */
public final class TtyIo {
    private static final int FSTAT = 5;
    private static final long TIOCSTI = 0x5412, TIOCGDEV = 0x80045432L;

    private TtyIo() {
    }

    /** read(2): the bytes read (empty at end of file), or null when nothing is waiting (EAGAIN). */
    public static byte[] read(int fd, int max, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(max);
            long r;
            do {
                r = Native.raw(Nr.READ, fd, buf.address(), max);
            } while (r == -Errno.EINTR);
            if (r == -Errno.EAGAIN) return null;
            Native.check(r, "read(" + what + ")");
            return buf.asSlice(0, r).toArray(JAVA_BYTE);
        }
    }

    /** The device numbers of what fd is: {st_dev, st_rdev} (fstat(2)). */
    public static long[] devices(int fd, String what) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(144);
            Native.check(Native.raw(FSTAT, fd, st.address()), "fstat(" + what + ")");
            return new long[]{st.get(JAVA_LONG, 0), st.get(JAVA_LONG, 40)};
        }
    }

    /** major(3) of a device number (the kernel's new_encode_dev form, as in stat and /proc/PID/stat). */
    public static int major(long dev) {
        return (int) (((dev >>> 8) & 0xfff) | ((dev >>> 32) & ~0xfffL));
    }

    public static int minor(long dev) {
        return (int) ((dev & 0xff) | ((dev >>> 12) & ~0xffL));
    }

    /** ioctl(TIOCGDEV): the device number of the terminal fd is (of the controlling terminal for a /dev/tty fd). */
    public static long device(int fd) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            Native.check(Native.raw(Nr.IOCTL, fd, TIOCGDEV, v.address()), "ioctl(fd " + fd + ", TIOCGDEV)");
            return Integer.toUnsignedLong(v.get(JAVA_INT, 0));
        }
    }

    /** ioctl(TIOCSTI) for each byte: data taken by fd's line discipline as if the terminal had received it. */
    public static void simulateInput(int fd, byte[] data) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(1);
            for (byte b : data) {
                c.set(JAVA_BYTE, 0, b);
                Native.check(Native.raw(Nr.IOCTL, fd, TIOCSTI, c.address()), "ioctl(fd " + fd + ", TIOCSTI)");
            }
        }
    }
}
