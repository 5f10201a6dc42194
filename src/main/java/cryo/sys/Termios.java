package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * A terminal's modes: the kernel's struct termios2 (include/uapi/asm-generic/termbits.h), read and set with
 * TCGETS2/TCSETS2 so that a speed set with BOTHER survives. On a pty master these act on its slave's modes
 * (drivers/tty/tty_ioctl.c tty_mode_ioctl()).
 */
public record Termios(int iflag, int oflag, int cflag, int lflag, int line, byte[] cc, int ispeed, int ospeed) {
    /** NCCS of the kernel's struct termios (asm-generic/termbits.h). */
    public static final int NCCS = 19;
    /** Indexes into cc (asm-generic/termbits.h). */
    public static final int VINTR = 0, VQUIT = 1, VERASE = 2, VKILL = 3, VEOF = 4, VTIME = 5, VMIN = 6, VSWTC = 7,
            VSTART = 8, VSTOP = 9, VSUSP = 10, VEOL = 11, VREPRINT = 12, VDISCARD = 13, VWERASE = 14, VLNEXT = 15, VEOL2 = 16;
    public static final int ICRNL = 0400, INLCR = 0100, IGNCR = 0200, IXON = 02000, IUTF8 = 040000;
    public static final int OPOST = 1, ONLCR = 4;
    public static final int ISIG = 1, ICANON = 2, ECHO = 010, ECHOE = 020, ECHOK = 040, ECHONL = 0100, TOSTOP = 0400,
            ECHOCTL = 01000, ECHOKE = 04000, IEXTEN = 0100000, EXTPROC = 0200000;
    /** Every flag bit the kernel defines, per field (asm-generic/termbits.h, x86). */
    public static final int IFLAGS = 077777, OFLAGS = 0177777, CFLAGS = 0017777 | 002003600000 | 010000000000 | 020000000000,
            LFLAGS = 0377777;
    /** How a new mode takes effect (tcsetattr(3) TCSANOW, TCSADRAIN, TCSAFLUSH). */
    public enum When { NOW, DRAIN, FLUSH }

    private static final long TCGETS2 = 0x802C542AL, TCSETS2 = 0x402C542BL, TCSETSW2 = 0x402C542CL, TCSETSF2 = 0x402C542DL;
    private static final int SIZE = 44;

    public Termios {
        if (cc.length != NCCS) throw new IllegalArgumentException("termios c_cc has " + cc.length + " characters, not " + NCCS);
        cc = cc.clone();
    }

    @Override
    public byte[] cc() {
        return cc.clone();
    }

    public int cc(int index) {
        return cc[index] & 0xff;
    }

    public Termios withFlags(int iflag, int oflag, int lflag) {
        return new Termios(iflag, oflag, cflag, lflag, line, cc, ispeed, ospeed);
    }

    public Termios withCc(int index, int value) {
        byte[] c = cc.clone();
        c[index] = (byte) value;
        return new Termios(iflag, oflag, cflag, lflag, line, c, ispeed, ospeed);
    }

    /** ioctl(TCGETS2): the modes of the terminal at fd (of its slave, if fd is a pty master). */
    public static Termios get(int fd) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment t = a.allocate(SIZE);
            Native.check(Native.raw(Nr.IOCTL, fd, TCGETS2, t.address()), "ioctl(fd " + fd + ", TCGETS2)");
            byte[] cc = t.asSlice(17, NCCS).toArray(JAVA_BYTE);
            return new Termios(t.get(JAVA_INT, 0), t.get(JAVA_INT, 4), t.get(JAVA_INT, 8), t.get(JAVA_INT, 12),
                    t.get(JAVA_BYTE, 16) & 0xff, cc, t.get(JAVA_INT, 36), t.get(JAVA_INT, 40));
        }
    }

    /**
     * ioctl(TCSETS2/TCSETSW2/TCSETSF2). A caller in a background group of its controlling terminal gets SIGTTOU
     * unless it blocks it (drivers/tty/tty_jobctrl.c tty_check_change()): see Tty.setForegroundGroup.
     */
    public void set(int fd, When when) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment t = a.allocate(SIZE);
            t.set(JAVA_INT, 0, iflag);
            t.set(JAVA_INT, 4, oflag);
            t.set(JAVA_INT, 8, cflag);
            t.set(JAVA_INT, 12, lflag);
            t.set(JAVA_BYTE, 16, (byte) line);
            MemorySegment.copy(cc, 0, t, JAVA_BYTE, 17, NCCS);
            t.set(JAVA_INT, 36, ispeed);
            t.set(JAVA_INT, 40, ospeed);
            long req = switch (when) {
                case NOW -> TCSETS2;
                case DRAIN -> TCSETSW2;
                case FLUSH -> TCSETSF2;
            };
            Tty.withSigttouBlocked(() -> Native.check(Native.raw(Nr.IOCTL, fd, req, t.address()), "ioctl(fd " + fd + ", TCSETS2)"));
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Termios t && iflag == t.iflag && oflag == t.oflag && cflag == t.cflag && lflag == t.lflag
                && line == t.line && Arrays.equals(cc, t.cc) && ispeed == t.ispeed && ospeed == t.ospeed;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(cc) * 31 + iflag ^ oflag ^ cflag ^ lflag;
    }

    @Override
    public String toString() {
        return String.format("iflag=0%o oflag=0%o cflag=0%o lflag=0%o line=%d speed=%d/%d", iflag, oflag, cflag, lflag, line, ispeed, ospeed);
    }
}
