package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/** A terminal's window size (struct winsize, TIOCGWINSZ/TIOCSWINSZ in ioctl_tty(2)); on a pty master, its slave's. */
public record Winsize(int rows, int cols, int xpixel, int ypixel) {
    private static final int TIOCGWINSZ = 0x5413, TIOCSWINSZ = 0x5414;

    public static Winsize get(int fd) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment w = a.allocate(8);
            Native.check(Native.raw(Nr.IOCTL, fd, TIOCGWINSZ, w.address()), "ioctl(fd " + fd + ", TIOCGWINSZ)");
            return new Winsize(w.get(JAVA_SHORT, 0) & 0xffff, w.get(JAVA_SHORT, 2) & 0xffff, w.get(JAVA_SHORT, 4) & 0xffff,
                    w.get(JAVA_SHORT, 6) & 0xffff);
        }
    }

    /** Sets the size; the kernel sends SIGWINCH to the terminal's foreground group if it changed (tty_do_resize()). */
    public void set(int fd) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment w = a.allocate(8);
            w.set(JAVA_SHORT, 0, (short) rows);
            w.set(JAVA_SHORT, 2, (short) cols);
            w.set(JAVA_SHORT, 4, (short) xpixel);
            w.set(JAVA_SHORT, 6, (short) ypixel);
            Native.check(Native.raw(Nr.IOCTL, fd, TIOCSWINSZ, w.address()), "ioctl(fd " + fd + ", TIOCSWINSZ " + rows + "x" + cols + ")");
        }
    }
}
