package cryo.files;

import cryo.image.Refusal;

import java.io.IOException;
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

    /** The file's description is reopened like a PATH one: RestoreContext.files holds cryo's /proc/self/fd/N of it. */
    public Restorer restorer(RestoreContext rc) {
        return new RegularFile().restorer(rc);
    }
}
