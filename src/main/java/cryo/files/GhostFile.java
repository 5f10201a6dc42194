package cryo.files;

import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.FileIo;
import cryo.sys.SysException;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.EnumSet;
import java.util.Set;

/**
 * An fd of a deleted regular file or an O_TMPFILE file (Ghosts): its contents go to the image once, in a
 * GHOST record; restart recreates the file before any task is restored (GhostFiles) and each description
 * is a new open of it through cryo's own fd of it, with the status flags and offset it had. A deleted file
 * that still has a name in its directory is an ordinary PATH description of that name.
 */
final class GhostFile implements FileKind {
    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.GHOST);
    }

    public boolean takes(FdContext c) {
        return Ghosts.deleted(c.link()) && c.fileType() == FileRecord.S_IFREG;
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        String what = "fd " + c.fd();
        String other = Ghosts.otherName(c.pid(), c.proc(), c.link(), what);
        if (other != null) {
            FileRecord f = c.table().ref(c.pid(), c.proc(), other);
            return new OpenFileRecord(c.table().nextObjref(), OpenFileRecord.Kind.PATH, f.objref(), 0, c.flags(), c.pos(), 0, other);
        }
        GhostRecord g = c.table().ghosts().ref(c.pid(), c.proc(), c.link(), what);
        return new OpenFileRecord(c.table().nextObjref(), OpenFileRecord.Kind.GHOST, g.objref(), 0, c.flags(), c.pos(), 0, c.link());
    }

    /**
     * Each description is a new open of cryo's /proc/self/fd/N of the recreated file (RestoreContext.files
     * leads there), with the status flags and offset it had. Not O_TMPFILE again: it stays in the flags
     * fdinfo shows of a file made with it, and includes O_DIRECTORY; nor O_NOFOLLOW, which acts only at the
     * first open (and makes an open of the /proc link fail with ELOOP).
     */
    public Restorer restorer(RestoreContext rc) {
        return new Restorer() {
            private final List<Integer> opened = new ArrayList<>();

            public int open(OpenFileRecord d) throws SysException {
                FileRecord f = rc.files().get(d.file());
                int fd = Fd.open(f.path(), d.flags() & RegularFile.OPEN_FLAGS_KEPT & ~(FileIo.O_TMPFILE | Fd.O_NOFOLLOW) | Fd.O_NOCTTY);
                opened.add(fd);
                if (d.pos() != 0) Fd.lseek(fd, d.pos(), d.description());
                return fd;
            }

            public void close() {
                for (int fd : opened) Fd.close(fd);
                opened.clear();
            }
        };
    }
}
