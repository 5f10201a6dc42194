package cryo.files;

import cryo.image.Refusal;

import java.util.EnumSet;
import java.util.Set;

/**
 * A description that leads outside the tree (CRIU's --shell-job and --inherit-fd): a terminal, a socket, or a
 * pipe or FIFO whose other end a process outside holds. At fds 0-2 it is connected at restart to cryo
 * restart's own fd of the same number; elsewhere only if the user declared it with --external and gives an
 * fd for it with restart --inherit-fd FD:DESCRIPTION. Unix sockets are cryo.sockets' (taken before this);
 * other sockets of the tree's own are not supported yet.
 */
final class InheritedFile implements FileKind {
    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.INHERITED);
    }

    public boolean takes(FdContext c) {
        boolean pipeOrFifo = c.link().startsWith("pipe:") || c.fileType() == FileRecord.S_IFIFO;
        return c.external().contains(c.link()) || c.link().startsWith("socket:") || isTty(c.link())
                || (pipeOrFifo && !c.outside().isEmpty());
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal {
        String link = c.link();
        if (c.external().contains(link)) {
            // The user vouches for it: connected at restart to the fd named by --inherit-fd FD:link.
            return record(c, c.fd() <= 2 ? c.fd() : OpenFileRecord.EXTERNAL);
        }
        if (c.fd() > 2 && link.startsWith("socket:")) {
            long inode = Long.parseLong(link, "socket:[".length(), link.length() - 1, 10);
            throw c.refuse(SocketKind.describe(c.pid(), inode) + " (" + link + "): sockets are not supported yet");
        }
        if (c.fd() > 2 && isTty(link) && isControllingTerminal(c)) {
            // The task's own controlling terminal (less reads its keys from /dev/tty at fd 3): connected at
            // restart like fd 0, to cryo's controlling terminal (cryo.tty.TerminalFds).
            return record(c, 0);
        }
        if (c.fd() > 2) {
            String holder = c.outside().isEmpty() ? "" : ", which task " + c.outside().getFirst().pid()
                    + " (fd " + c.outside().getFirst().fd() + ") outside the tree holds too";
            throw c.refuse(link + holder + ": only fds 0-2 may be connected outside the tree (--external " + link
                    + " accepts it, to be given back with restart --inherit-fd FD:" + link + ")");
        }
        return record(c, c.fd());
    }

    /** fd is the task's controlling terminal: /dev/tty, or the device of /proc/PID/stat field 7 (tty_nr). */
    private static boolean isControllingTerminal(FdContext c) {
        try {
            cryo.task.ProcStat s = cryo.task.ProcStat.read(c.pid());
            if (s == null || s.field(7) == 0) return false;
            if (c.link().equals("/dev/tty")) return true;
            long rdev = (Long) java.nio.file.Files.getAttribute(java.nio.file.Path.of("/proc/" + c.pid() + "/fd/" + c.fd()), "unix:rdev");
            return rdev == s.field(7);
        } catch (java.io.IOException | RuntimeException gone) {
            return false;
        }
    }

    private static OpenFileRecord record(FdContext c, int inheritFd) {
        return new OpenFileRecord(c.table().nextObjref(), OpenFileRecord.Kind.INHERITED, 0, 0, c.flags(), 0, inheritFd, c.link());
    }

    /** The status flags restart gives back to an inherited description (fcntl(2) F_SETFL). */
    private static final int SETTABLE = cryo.sys.Fd.O_NONBLOCK | cryo.sys.Fd.O_APPEND;

    static boolean isTty(String link) {
        return link.startsWith("/dev/pts/") || link.startsWith("/dev/tty") || link.equals("/dev/console") || link.equals("/dev/ptmx");
    }

    public Restorer restorer(RestoreContext rc) {
        cryo.tty.TerminalFds terminal;
        try {
            terminal = new cryo.tty.TerminalFds();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return new Restorer() {
            /**
             * cryo's own fd, with the status flags the description had: a program that made its stdio
             * non-blocking (Node.js does) gets it back so. It is the caller's description, as it was the
             * original's caller's: the change is the one the program had made to it.
             */
            public int open(OpenFileRecord d) throws cryo.sys.SysException {
                Integer given = rc.inheritFds().get(d.description());
                int fd = given != null ? given : terminal.fdFor(rc.image().terminal, d.description(), d.inheritFd());
                int flags;
                try {
                    flags = cryo.sys.Fd.fcntl(fd, cryo.sys.Fd.F_GETFL, 0);
                } catch (cryo.sys.SysException notOpen) {
                    return fd;   // the broker says which fd is missing
                }
                int wanted = (flags & ~SETTABLE) | (d.flags() & SETTABLE);
                if (wanted != flags) cryo.sys.Fd.fcntl(fd, cryo.sys.Fd.F_SETFL, wanted);
                return fd;
            }

            public void close() {
                // cryo's own fds 0-2 and those given with --inherit-fd are not cryo's to close
                terminal.close();
            }
        };
    }
}
