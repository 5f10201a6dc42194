package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** cryo's controlling terminal and its foreground process group (termios(3) tcgetpgrp/tcsetpgrp). */
public final class Tty {
    private static final int TIOCGPGRP = 0x540F, TIOCSPGRP = 0x5410, GETPGRP = 111, O_NOCTTY = 0400;
    private static final int SIG_BLOCK = 0, SIG_SETMASK = 2, SIGTTOU = 22;

    private Tty() {
    }

    /** open("/dev/tty"): cryo's controlling terminal, or -1 when it has none (ENXIO). */
    public static int openControlling() throws SysException {
        try {
            return Fd.open("/dev/tty", Fd.O_RDWR | O_NOCTTY | Fd.O_CLOEXEC);
        } catch (SysException e) {
            if (e.errno() == Errno.ENXIO) return -1;
            throw e;
        }
    }

    public static int getpgrp() {
        return (int) Native.raw(GETPGRP, 0);
    }

    /** ioctl(TIOCGPGRP): the terminal's foreground process group. */
    public static int foregroundGroup(int fd) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment pgrp = a.allocate(JAVA_INT);
            Native.check(Native.raw(Nr.IOCTL, fd, TIOCGPGRP, pgrp.address()), "tcgetpgrp(" + fd + ")");
            return pgrp.get(JAVA_INT, 0);
        }
    }

    /**
     * ioctl(TIOCSPGRP): makes pgrp the foreground group. A caller that is not in the foreground itself would get
     * SIGTTOU (drivers/tty/tty_jobctrl.c tty_check_change()) unless it blocks it: the calling thread blocks it
     * for the call.
     */
    public static void setForegroundGroup(int fd, int pgrp) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment set = a.allocate(JAVA_LONG), old = a.allocate(JAVA_LONG), p = a.allocate(JAVA_INT);
            set.set(JAVA_LONG, 0, 1L << (SIGTTOU - 1));
            Native.check(Native.raw(Nr.RT_SIGPROCMASK, SIG_BLOCK, set.address(), old.address(), 8), "rt_sigprocmask(SIG_BLOCK, SIGTTOU)");
            try {
                p.set(JAVA_INT, 0, pgrp);
                Native.check(Native.raw(Nr.IOCTL, fd, TIOCSPGRP, p.address()), "tcsetpgrp(" + fd + ", " + pgrp + ")");
            } finally {
                Native.raw(Nr.RT_SIGPROCMASK, SIG_SETMASK, old.address(), 0, 8);
            }
        }
    }
}
