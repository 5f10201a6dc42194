package cryo.files;

import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.SysException;

import java.io.IOException;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A named pipe of the tree's own: reopened by the path of its FILE record, its buffer saved once in a PIPE
 * record like a pipe's. At restart cryo opens it O_RDWR first and keeps that holder open while the tasks'
 * descriptions are opened (O_NONBLOCK, so an open for writing finds a reader), so the refilled buffer
 * survives until every fd is in place.
 */
final class FifoFile implements FileKind {
    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.FIFO);
    }

    public boolean takes(FdContext c) {
        return c.fileType() == FileRecord.S_IFIFO && c.link().startsWith("/");
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        FileRecord f = c.table().ref(c.pid(), c.proc(), c.link());
        PipeRecord p = c.table().pipe(c.pid(), c.fd(), c.st().ino());
        return new OpenFileRecord(c.table().nextObjref(), OpenFileRecord.Kind.FIFO, f.objref(), p.objref(), c.flags(), 0, 0, c.link());
    }

    public Restorer restorer(RestoreContext rc) {
        return new Restorer() {
            private final Map<Integer, Integer> holders = new HashMap<>();
            private final List<Integer> opened = new ArrayList<>();

            public int open(OpenFileRecord d) throws SysException {
                FileRecord f = rc.files().get(d.file());
                PipeRecord p = rc.pipes().get(d.pipe());
                if (!holders.containsKey(p.objref())) {
                    int holder = Fd.open(rc.paths().path(f), Fd.O_RDWR | Fd.O_NONBLOCK);
                    holders.put(p.objref(), holder);
                    PipeFile.fill(holder, p);
                }
                int fd = Fd.open(rc.paths().path(f), (d.flags() & Fd.O_ACCMODE) | Fd.O_NONBLOCK);
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
}
