package cryo.tty;

import cryo.files.FdRecord;
import cryo.files.OpenFileRecord;
import cryo.files.OpenFiles;
import cryo.image.ImageException;
import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.Proc;
import cryo.sys.SysException;
import cryo.sys.Termios;
import cryo.sys.Winsize;
import cryo.task.ProcStat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Checkpoint of the terminal outside the tree (a shell job's): a terminal at fds 0-2 of tasks of the tree,
 * recorded INHERITED (a pty whose master the tree holds is cryo.files' pty kinds', taken before), that is
 * the controlling terminal of the tasks holding it. Its modes and window size are read through a duplicate of
 * a task's fd (pidfd_getfd): nothing is called in the tasks, nothing on the terminal changes. A terminal at
 * fds 0-2 of a task whose controlling terminal is another one is refused: restart connects every such fd to
 * its own controlling terminal, and one tree has one.
 */
public final class OutsideTerminal {
    /** /dev/tty (major 5, minor 0): opened, it is the opener's controlling terminal. */
    private static final long DEV_TTY = dev(5, 0);

    private OutsideTerminal() {
    }

    /**
     * The TERMINAL record of the tree, or null when no task holds its controlling terminal at fds 0-2.
     * stats: /proc/PID/stat of every process (field 7 tty_nr, 8 tpgid); tables: the fd tables by pid.
     */
    public static TerminalRecord checkpoint(int root, Map<Integer, ProcStat> stats, Map<Integer, OpenFiles.Table> tables,
                                            Refusal.Collector refused) throws IOException {
        String path = null;
        long device = 0;
        int holder = 0, holderFd = -1;
        boolean foreground = false;
        for (var e : tables.entrySet()) {
            int pid = e.getKey();
            ProcStat st = stats.get(pid);
            Map<Integer, OpenFileRecord> descs = new HashMap<>();
            for (OpenFileRecord d : e.getValue().descriptions()) descs.put(d.objref(), d);
            for (FdRecord f : e.getValue().fds()) {
                OpenFileRecord d = descs.get(f.openFile());
                if (d == null || d.kind() != OpenFileRecord.Kind.INHERITED || d.inheritFd() == OpenFileRecord.EXTERNAL) continue;
                long rdev;
                try {
                    rdev = (Long) Files.getAttribute(Path.of("/proc/" + pid + "/fd/" + f.fd()), "unix:rdev");
                } catch (IOException gone) {
                    continue;
                }
                if (!isTerminal(d.description(), rdev)) continue;
                long ctty = st == null ? 0 : st.field(7);
                if (ctty == 0) continue;   // a task without a controlling terminal writing to one: connected as before
                long dev = rdev == DEV_TTY ? ctty : rdev;
                if (dev != ctty) {
                    refused.add(pid, "(" + st.comm + ") fd " + f.fd() + " is " + d.description() + ", a terminal the tree does not control"
                            + " (its controlling terminal is " + name(ctty) + "): not supported");
                    continue;
                }
                if (path != null && dev != device) {
                    refused.add(pid, "(" + st.comm + ") fd " + f.fd() + " is " + d.description() + ", a second controlling terminal (task "
                            + holder + " has " + path + "): not supported");
                    continue;
                }
                if (path == null) {
                    // (a task's /dev/tty is its controlling terminal: named by its number when it is a pty's)
                    path = d.description().equals("/dev/tty") && name(ctty).startsWith("/dev/") ? name(ctty) : d.description();
                    device = dev;
                    holder = pid;
                    holderFd = f.fd();
                }
            }
        }
        if (path == null) return null;
        for (ProcStat st : stats.values()) {
            if (st.field(7) == device && st.field(8) == st.pgid()) foreground = true;
        }
        ProcStat rootStat = stats.get(root);
        boolean rootLeads = rootStat != null && rootStat.sid() == root && rootStat.field(7) == device;
        try {
            int dup = Proc.pidfdGetfd(holder, holderFd);
            try {
                Termios modes = Termios.get(dup);
                if (modes.line() != 0) {
                    refused.add(holder, "fd " + holderFd + " is " + path + ", whose line discipline is " + modes.line() + ", not N_TTY (0): not supported");
                    return null;
                }
                return new TerminalRecord(path, foreground, rootLeads, modes, Winsize.get(dup));
            } finally {
                Fd.close(dup);
            }
        } catch (SysException e) {
            refused.add(holder, "fd " + holderFd + " is " + path + ", whose modes cannot be read: " + e.getMessage());
            return null;
        }
    }

    /** A character device that is a terminal: a tty path InheritedFile took, with a device number. */
    private static boolean isTerminal(String link, long rdev) {
        return rdev != 0 && (link.startsWith("/dev/pts/") || link.startsWith("/dev/tty") || link.equals("/dev/console"));
    }

    /** glibc's makedev(3) encoding of st_rdev; /proc/PID/stat's tty_nr (new_encode_dev) agrees with it for 32 bits. */
    static long dev(long major, long minor) {
        return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xffL) << 12) | ((major & ~0xfffL) << 32);
    }

    static long major(long dev) {
        return ((dev >>> 8) & 0xfff) | ((dev >>> 32) & ~0xfffL);
    }

    static long minor(long dev) {
        return (dev & 0xff) | ((dev >>> 12) & ~0xffL & 0xffffffffL);
    }

    /** /dev/pts/N for a pty slave (major 136, minor N: drivers/tty/pty.c), else the device numbers. */
    static String name(long dev) {
        long major = major(dev), minor = minor(dev);
        if (major == 136) return "/dev/pts/" + minor;
        return "the terminal " + major + ":" + minor;
    }

    /** Image.of: one TERMINAL record at most. */
    public static TerminalRecord check(TerminalRecord before, TerminalRecord r, String name) throws ImageException {
        if (before != null) throw new ImageException("record " + name + ": a second TERMINAL");
        return r;
    }
}
