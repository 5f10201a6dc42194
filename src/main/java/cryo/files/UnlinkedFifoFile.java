package cryo.files;

import cryo.image.Refusal;
import cryo.sys.Errno;
import cryo.sys.Fd;
import cryo.sys.FileIo;
import cryo.sys.Fs;
import cryo.sys.SysException;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A FIFO the tree holds open after it was removed from its directory ("/dir/f (deleted)", no link left): an
 * UNLINKED_FIFO record, its buffer a PIPE like a named FIFO's. Restart makes a FIFO at the old path (or, if
 * that name is taken, a temporary name in the same directory), opens a holder O_RDWR on it, removes the name
 * at once and refills the buffer; every description of it is then a new open of that FIFO through
 * /proc/self/fd (fs/pipe.c fifo_open()), so nothing is on disk while the tasks' fds are installed.
 */
final class UnlinkedFifoFile implements FileKind {
    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.FIFO_UNLINKED);
    }

    public boolean takes(FdContext c) throws IOException {
        return c.fileType() == FileRecord.S_IFIFO && c.link().startsWith("/") && c.link().endsWith(" (deleted)")
                && (Integer) Files.getAttribute(c.proc(), "unix:nlink") == 0;
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        UnlinkedFifoRecord f = c.table().unnamed().fifo(c);
        return new OpenFileRecord(c.table().nextObjref(), OpenFileRecord.Kind.FIFO_UNLINKED, f.objref(), f.pipe(), c.flags(), 0, 0, c.link());
    }

    public Restorer restorer(RestoreContext rc) {
        return new Restorer() {
            private final Map<Integer, Integer> holders = new HashMap<>();
            private final List<Integer> opened = new ArrayList<>();

            public int open(OpenFileRecord d) throws SysException {
                UnlinkedFifoRecord f = rc.unlinkedFifos().get(d.file());
                Integer holder = holders.get(f.objref());
                if (holder == null) {
                    holder = make(f);
                    holders.put(f.objref(), holder);
                    PipeFile.fill(holder, rc.pipes().get(f.pipe()));
                }
                int fd = Fd.open("/proc/self/fd/" + holder, (d.flags() & Fd.O_ACCMODE) | Fd.O_NONBLOCK);
                opened.add(fd);
                Fd.fcntl(fd, Fd.F_SETFL, d.flags());
                return fd;
            }

            public void close() {
                for (int fd : opened) Fd.close(fd);
                opened.clear();
                for (int fd : holders.values()) Fd.close(fd);
                holders.clear();
            }
        };
    }

    private static void journalMade(String path) throws SysException {
        try {
            cryo.janitor.Journal.made(path);
        } catch (java.io.IOException e) {
            try {
                FileIo.unlink(path);
            } catch (SysException ignored) {
                // the journal names it: a sweep removes it
            }
            throw new SysException("journal of " + path + ": " + e.getMessage(), Errno.EIO);
        }
    }

    /** A FIFO like f, held open O_RDWR by cryo and already unlinked again. */
    private static int make(UnlinkedFifoRecord f) throws SysException {
        String path = f.path();
        for (int i = 0; ; i++) {
            try {
                cryo.janitor.Journal.intent(path);   // a cryo killed before the unlink has its janitor unlink it
            } catch (java.io.IOException e) {
                throw new SysException("journal of " + path + ": " + e.getMessage(), Errno.EIO);
            }
            try {
                Fs.mkfifo(path, 0600);
                journalMade(path);
                break;
            } catch (SysException e) {
                cryo.janitor.Journal.gone(path);
                if (e.errno() != Errno.EEXIST || i == 20) {
                    throw new SysException("mkfifo(" + path + "), recreating the unlinked FIFO", e.errno());
                }
                path = f.path() + ".cryo-" + Long.toHexString(System.nanoTime());
            }
        }
        try {
            int fd = Fd.open(path, Fd.O_RDWR | Fd.O_NONBLOCK | Fd.O_NOFOLLOW);
            try {
                FileIo.fchown(fd, f.uid(), f.gid(), f.path());
                FileIo.fchmod(fd, f.mode() & 07777, f.path());
            } catch (SysException e) {
                Fd.close(fd);
                throw e;
            }
            return fd;
        } finally {
            try {
                FileIo.unlink(path);
            } catch (SysException e) {
                // ENOENT: someone removed it already; the holder keeps the FIFO either way
            }
            cryo.janitor.Journal.gone(path);
        }
    }
}
