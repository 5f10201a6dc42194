package cryo.tty;

import cryo.image.ImageException;
import cryo.sys.Fd;
import cryo.sys.Proc;
import cryo.sys.SysException;
import cryo.sys.Tty;
import cryo.task.ProcStat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Restart: where the tasks' fds 0-2 that led to the tree's controlling terminal (INHERITED, the TERMINAL
 * record's path, or /dev/tty) go when cryo restart has a controlling terminal: to cryo's own fd of that
 * number if it is that terminal (the same description, as a shell's job shares its shell's), else to one
 * description cryo opens on its controlling terminal for them all (its fd was redirected:
 * `cryo restart IMG 2>log` does not send the job's stderr to the log). Without a controlling terminal, or for
 * an fd named with --inherit-fd, cryo's fd of that number, as for any description leading outside.
 * Read when the restorer is made, before a root session leader takes the terminal (SessionTerminal).
 */
public final class TerminalFds implements AutoCloseable {
    private static final long DEV_TTY = OutsideTerminal.dev(5, 0);
    /** cryo's controlling terminal (tty_nr), 0 when it has none. */
    private final long ctty;
    private int opened = -1;

    public TerminalFds() throws IOException {
        ctty = ProcStat.read(Proc.getpid()).field(7);
    }

    /** cryo's fd for an inherited description: inheritFd, or the controlling terminal's as above. */
    public int fdFor(TerminalRecord image, String description, int inheritFd) throws SysException {
        if (image == null || ctty == 0 || inheritFd < 0 || inheritFd > 2) return inheritFd;
        if (!description.equals(image.path()) && !description.equals("/dev/tty")) return inheritFd;
        try {
            long rdev = (Long) Files.getAttribute(Path.of("/proc/self/fd/" + inheritFd), "unix:rdev");
            if (rdev == ctty || rdev == DEV_TTY) return inheritFd;
        } catch (IOException | RuntimeException notOpen) {
            // closed or not a device: the terminal is opened below
        }
        if (opened < 0) {
            try {
                opened = Fd.open(controllingPath(), Fd.O_RDWR | Tty.O_NOCTTY);
            } catch (IOException | ImageException e) {
                throw new SysException("open(cryo's controlling terminal): " + e.getMessage(), cryo.sys.Errno.ENXIO);
            }
        }
        return opened;
    }

    public void close() {
        if (opened >= 0) Fd.close(opened);
        opened = -1;
    }

    /** The path of cryo's controlling terminal (/proc/self/stat tty_nr): a pty's /dev/pts/N, else its fd 0-2's link. */
    static String controllingPath() throws IOException, ImageException {
        long dev = ProcStat.read(Proc.getpid()).field(7);
        String name = OutsideTerminal.name(dev);
        if (name.startsWith("/dev/")) return name;
        for (int i = 0; i <= 2; i++) {
            Path link = Path.of("/proc/self/fd/" + i);
            try {
                if ((Long) Files.getAttribute(link, "unix:rdev") == dev) return Files.readSymbolicLink(link).toString();
            } catch (IOException notOpen) {
                // next
            }
        }
        throw new ImageException("cryo restart's controlling terminal (" + name + ") has no path cryo can find");
    }
}
