package cryo.files;

import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.SysException;

import java.io.IOException;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * A file on disk reached by its path: a regular file or directory (reopened with its status flags and offset)
 * or a character device (reopened by path, no offset). The file itself is a FILE record, checked at restart
 * to be the same file (OpenFiles.verify).
 */
final class RegularFile implements FileKind {
    /** Status flags an open(2) takes again: not those that act only at the first open. */
    static final int OPEN_FLAGS_KEPT = ~(Fd.O_CREAT | Fd.O_EXCL | Fd.O_TRUNC | Fd.O_CLOEXEC);

    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.PATH);
    }

    public boolean takes(FdContext c) {
        return c.link().startsWith("/");
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        FileRecord f = c.table().ref(c.pid(), c.proc(), c.link());
        if (!f.regular() && !f.directory() && !f.charDevice()) {
            throw c.refuse(c.link() + " (mode 0" + Integer.toOctalString(f.mode()) + "): not supported yet");
        }
        return new OpenFileRecord(c.table().nextObjref(), OpenFileRecord.Kind.PATH, f.objref(), 0, c.flags(),
                f.charDevice() ? 0 : c.pos(), 0, c.link());
    }

    public Restorer restorer(RestoreContext rc) {
        return new Restorer() {
            private final List<Integer> opened = new ArrayList<>();

            public int open(OpenFileRecord d) throws SysException {
                FileRecord f = rc.files().get(d.file());
                int fd = Fd.open(rc.paths().path(f), d.flags() & OPEN_FLAGS_KEPT | Fd.O_NOCTTY);
                opened.add(fd);
                if (d.pos() != 0) Fd.lseek(fd, d.pos(), f.path());
                return fd;
            }

            public void close() {
                for (int fd : opened) Fd.close(fd);
                opened.clear();
            }
        };
    }
}
