package cryo.files;

import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.EventPoll;
import cryo.sys.ProcFile;
import cryo.sys.SysException;

import java.io.IOException;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * An epoll instance (epoll(7), fs/eventpoll.c): its OPEN_FILE holds the status flags; its interest list goes
 * into EPOLL_TARGET records once every fd of the tree is known (EventLoopDump). Restart creates it empty
 * with epoll_create1 and, once every description of the image exists and every fd is installed, adds each
 * item again (EpollItems).
 */
final class EpollFile implements FileKind {
    static final String LINK = "anon_inode:[eventpoll]";

    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.EPOLL);
    }

    public boolean takes(FdContext c) {
        return c.link().equals(LINK);
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        c.refuseIfSharedOutside("an epoll instance");
        int objref = c.table().nextObjref();
        c.table().eventLoops().epoll(c.pid(), c.fd(), objref, ProcFile.read("/proc/" + c.pid() + "/fdinfo/" + c.fd()));
        return new OpenFileRecord(objref, OpenFileRecord.Kind.EPOLL, 0, 0, c.flags(), 0, 0, c.link());
    }

    public Restorer restorer(RestoreContext rc) {
        return new Restorer() {
            private final Map<Integer, Integer> made = new LinkedHashMap<>();

            public int open(OpenFileRecord d) throws SysException {
                int fd = EventPoll.epollCreate();
                made.put(d.objref(), fd);
                Fd.fcntl(fd, Fd.F_SETFL, d.flags());
                return fd;
            }

            /** Every description exists now: the items go back in, each under its own fd number. */
            public void finish() throws SysException {
                EpollItems.add(made, rc.eventLoops(), rc.root());
            }

            public void close() {
                for (int fd : made.values()) Fd.close(fd);
                made.clear();
            }
        };
    }
}
