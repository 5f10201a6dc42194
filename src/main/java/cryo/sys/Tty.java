package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Terminals: the controlling terminal and its foreground process group (termios(3) tcgetpgrp/tcsetpgrp), and
 * the ioctls of pseudo-terminal pairs (ioctl_tty(2), pty(7), drivers/tty/pty.c). Modes and window size are
 * Termios and Winsize.
 */
public final class Tty {
    private static final int TIOCGPGRP = 0x540F, TIOCSPGRP = 0x5410, GETPGRP = 111;
    public static final int O_NOCTTY = 0400;
    /** For remote calls in a task (the call must be made by the session's leader or member itself). */
    public static final long TIOCSCTTY = 0x540E, TIOCNOTTY = 0x5422;
    private static final long TIOCGSID = 0x5429, FIONREAD = 0x541B, TIOCOUTQ = 0x5411, TIOCGPTN = 0x80045430L,
            TIOCSPTLCK = 0x40045431L, TIOCGPTLCK = 0x80045439L, TIOCPKT = 0x5420, TIOCGPKT = 0x80045438L,
            TIOCEXCL = 0x540C, TIOCNXCL = 0x540D, TIOCGEXCL = 0x80045440L, TIOCGPTPEER = 0x5441;
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
            MemorySegment p = a.allocate(JAVA_INT);
            p.set(JAVA_INT, 0, pgrp);
            withSigttouBlocked(() -> Native.check(Native.raw(Nr.IOCTL, fd, TIOCSPGRP, p.address()), "tcsetpgrp(" + fd + ", " + pgrp + ")"));
        }
    }

    /** A call that changes a terminal, made with SIGTTOU blocked in the calling thread (see setForegroundGroup). */
    public interface Change {
        void run() throws SysException;
    }

    public static void withSigttouBlocked(Change change) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment set = a.allocate(JAVA_LONG), old = a.allocate(JAVA_LONG);
            set.set(JAVA_LONG, 0, 1L << (SIGTTOU - 1));
            Native.check(Native.raw(Nr.RT_SIGPROCMASK, SIG_BLOCK, set.address(), old.address(), 8), "rt_sigprocmask(SIG_BLOCK, SIGTTOU)");
            try {
                change.run();
            } finally {
                Native.raw(Nr.RT_SIGPROCMASK, SIG_SETMASK, old.address(), 0, 8);
            }
        }
    }

    /** ioctl(TIOCGSID): the session whose controlling terminal fd is (ENOTTY when it is none's). */
    public static int session(int fd) throws SysException {
        return getInt(fd, TIOCGSID, "TIOCGSID");
    }

    /** ioctl(FIONREAD): bytes waiting to be read at fd (on a pty master: the slave's output not yet read). */
    public static int inputQueue(int fd) throws SysException {
        return getInt(fd, FIONREAD, "FIONREAD");
    }

    /** ioctl(TIOCOUTQ): bytes written at fd and not yet taken by the other side's line discipline. */
    public static int outputQueue(int fd) throws SysException {
        return getInt(fd, TIOCOUTQ, "TIOCOUTQ");
    }

    /** ioctl(TIOCGPTN) on a pty master: the number of its slave, /dev/pts/N of the master's devpts. */
    public static int ptyNumber(int master) throws SysException {
        return getInt(master, TIOCGPTN, "TIOCGPTN");
    }

    /** ioctl(TIOCGPTLCK) on a pty master: whether its slave is still locked (unlockpt(3) not called). */
    public static boolean ptyLocked(int master) throws SysException {
        return getInt(master, TIOCGPTLCK, "TIOCGPTLCK") != 0;
    }

    /** ioctl(TIOCSPTLCK): locks (unlockpt(3) undone) or unlocks a pty master's slave. */
    public static void setPtyLocked(int master, boolean locked) throws SysException {
        setInt(master, TIOCSPTLCK, locked ? 1 : 0, "TIOCSPTLCK");
    }

    /** ioctl(TIOCGPKT) on a pty master: whether packet mode is on. */
    public static boolean packetMode(int master) throws SysException {
        return getInt(master, TIOCGPKT, "TIOCGPKT") != 0;
    }

    /** ioctl(TIOCPKT) on a pty master. */
    public static void setPacketMode(int master, boolean on) throws SysException {
        setInt(master, TIOCPKT, on ? 1 : 0, "TIOCPKT");
    }

    /** ioctl(TIOCGEXCL): whether the terminal is in exclusive mode (TIOCEXCL: no more opens but by root). */
    public static boolean exclusive(int fd) throws SysException {
        return getInt(fd, TIOCGEXCL, "TIOCGEXCL") != 0;
    }

    public static void setExclusive(int fd, boolean on) throws SysException {
        Native.check(Native.raw(Nr.IOCTL, fd, on ? TIOCEXCL : TIOCNXCL, 0), "ioctl(fd " + fd + (on ? ", TIOCEXCL)" : ", TIOCNXCL)"));
    }

    /** ioctl(TIOCGPTPEER) on a pty master: opens its slave without a path (works in any mount namespace). */
    public static int openPeer(int master, int flags) throws SysException {
        long r = Native.raw(Nr.IOCTL, master, TIOCGPTPEER, flags);
        Native.check(r, "ioctl(fd " + master + ", TIOCGPTPEER)");
        return (int) r;
    }

    private static int getInt(int fd, long req, String name) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            Native.check(Native.raw(Nr.IOCTL, fd, req, v.address()), "ioctl(fd " + fd + ", " + name + ")");
            return v.get(JAVA_INT, 0);
        }
    }

    private static void setInt(int fd, long req, int value, String name) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            v.set(JAVA_INT, 0, value);
            Native.check(Native.raw(Nr.IOCTL, fd, req, v.address()), "ioctl(fd " + fd + ", " + name + " " + value + ")");
        }
    }

    private static final int SIGHUP = 1;

    /**
     * ioctl(TIOCNOTTY) by the leader of the terminal's session: the session loses its controlling terminal,
     * and the terminal's foreground group gets SIGHUP and SIGCONT (drivers/tty/tty_jobctrl.c
     * disassociate_ctty()). The caller's group is that group here: SIGHUP is ignored around the call (the
     * signal is dropped when sent) and the previous action (the JVM's) is put back as it was.
     */
    public static void giveUpControlling(int fd) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ign = a.allocate(32), old = a.allocate(32);
            ign.set(JAVA_LONG, 0, 1);   // SIG_IGN
            Native.check(Native.raw(Nr.RT_SIGACTION, SIGHUP, ign.address(), old.address(), 8), "rt_sigaction(SIGHUP, SIG_IGN)");
            try {
                Native.check(Native.raw(Nr.IOCTL, fd, TIOCNOTTY, 0), "ioctl(fd " + fd + ", TIOCNOTTY)");
            } finally {
                Native.raw(Nr.RT_SIGACTION, SIGHUP, old.address(), 0, 8);
            }
        }
    }

    /** ioctl(TIOCSCTTY, 0): the terminal at fd becomes the controlling terminal of the caller's session, which it leads. */
    public static void takeControlling(int fd) throws SysException {
        Native.check(Native.raw(Nr.IOCTL, fd, TIOCSCTTY, 0), "ioctl(fd " + fd + ", TIOCSCTTY)");
    }
}
