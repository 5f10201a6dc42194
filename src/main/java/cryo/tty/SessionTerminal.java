package cryo.tty;

import cryo.image.Image;
import cryo.image.ImageException;
import cryo.remote.Tracee;
import cryo.sys.Fd;
import cryo.sys.Nr;
import cryo.sys.Proc;
import cryo.sys.SysException;
import cryo.sys.Tty;

import java.io.IOException;
import java.util.function.Consumer;

/**
 * A root that led the session whose controlling terminal was the outside terminal (a program started with
 * `setsid -c`, a window's shell): restart recreates its session with setsid, which has no controlling
 * terminal, and gives it cryo's terminal (TIOCSCTTY in the root, before its children are forked: they
 * inherit it) when the terminal can be had: only if cryo leads the session whose terminal it is (cryo restart
 * is the command of a terminal of its own, as `tmux new-window 'cryo restart IMG'`); cryo gives it up first
 * (TIOCNOTTY). A terminal that is another session's (a shell's) cannot be taken without hanging that
 * session up: refused before anything is created. Without a controlling terminal (cryo restart from a
 * script, CI) the root comes back without one, with a warning. The root's group becomes the terminal's
 * foreground (TIOCSCTTY does that); the terminal gets the job's modes and cryo's own back when the root exits.
 */
public final class SessionTerminal {
    /** cryo's terminal (open while a root is to get it) and its path; null when nothing is planned. */
    private static volatile String path;
    private static volatile int fd = -1;
    private static volatile boolean given;

    private SessionTerminal() {
    }

    /** Before anything is created: plans the terminal of a root session leader, refuses or warns. */
    public static void preflight(Image image, boolean detach, Consumer<String> warn) throws ImageException, SysException, IOException {
        path = null;
        given = false;
        TerminalRecord r = image.terminal;
        if (r == null || !r.rootLeads()) return;
        String what = "task " + image.tree.root().pid() + " led the session whose controlling terminal was " + r.path();
        if (image.namespaces != null) {
            warn.accept(what + ": the root of a container comes back without a controlling terminal");
            return;
        }
        int tty = Tty.openControlling();
        if (tty < 0) {
            warn.accept(what + ": cryo restart has no controlling terminal, so it comes back without one");
            return;
        }
        try {
            String mine = TerminalFds.controllingPath();
            if (Proc.getsid() != Proc.getpid()) {
                throw new ImageException(what + ": cryo restart's terminal " + mine + " is the controlling terminal of its shell's session "
                        + Tty.session(tty) + ", which a new session cannot take; run cryo restart as the first command of a terminal of its own,"
                        + " e.g. tmux new-window 'cryo restart IMG'");
            }
            JobModes.prepare(tty, r);
        } catch (ImageException | SysException | IOException e) {
            Fd.close(tty);
            throw e;
        }
        fd = tty;
        path = TerminalFds.controllingPath();
    }

    /** A root gets cryo's terminal (cryo.task.Terminal hands none over then). */
    public static boolean planned() {
        return path != null;
    }

    /**
     * In the root, right after its setsid and before its children exist: cryo lets its terminal go and the
     * root's session takes it (opened by path in the root, which shares cryo's mount namespace: a container's
     * root is never planned), with the job's modes.
     */
    public static void attach(Tracee root) throws SysException {
        String p = path;
        if (p == null) return;
        Tty.giveUpControlling(fd);
        given = true;
        long at = root.putString(0, p);
        int rfd = (int) root.syscall("open(" + p + ")", Nr.OPEN, at, Fd.O_RDWR | Tty.O_NOCTTY | Fd.O_CLOEXEC, 0);
        try {
            root.syscall("ioctl(" + p + ", TIOCSCTTY)", Nr.IOCTL, rfd, Tty.TIOCSCTTY, 0);
        } finally {
            root.syscall("close", Nr.CLOSE, rfd);
        }
        JobModes.toJob(fd);
    }

    /**
     * The root exited or the restart failed (its tasks killed: the session that had the terminal is gone):
     * cryo's modes back, and the terminal is cryo's controlling terminal again when nobody took it.
     */
    public static void end() {
        if (path == null) return;
        int tty = fd;
        JobModes.toShell(tty);
        JobModes.forget();
        if (given) {
            try {
                Tty.takeControlling(tty);
            } catch (SysException taken) {
                // another session has it (a child of the root that led one): cryo exits without it
            }
        }
        Fd.close(tty);
        path = null;
        fd = -1;
        given = false;
    }
}
