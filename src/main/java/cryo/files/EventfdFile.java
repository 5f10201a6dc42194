package cryo.files;

import cryo.image.Refusal;
import cryo.sys.EventPoll;
import cryo.sys.Fd;
import cryo.sys.ProcFile;
import cryo.sys.SysException;

import java.io.IOException;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * An eventfd (eventfd(2), fs/eventfd.c): checkpoint reads its counter and EFD_SEMAPHORE from fdinfo
 * (eventfd_show_fdinfo(): eventfd-count, eventfd-semaphore) into an EVENTFD record, the status flags
 * (O_NONBLOCK) into its OPEN_FILE. Restart makes it with eventfd2 and writes the counter back.
 */
final class EventfdFile implements FileKind {
    static final String LINK = "anon_inode:[eventfd]";

    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.EVENTFD);
    }

    public boolean takes(FdContext c) {
        return c.link().equals(LINK);
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        c.refuseIfSharedOutside("an eventfd");
        long count = -1;
        int semaphore = -1;
        for (String line : ProcFile.read("/proc/" + c.pid() + "/fdinfo/" + c.fd()).split("\n")) {
            if (line.startsWith("eventfd-count:")) count = Long.parseUnsignedLong(line.substring(14).trim(), 16);
            else if (line.startsWith("eventfd-semaphore:")) semaphore = Integer.parseInt(line.substring(18).trim());
        }
        if (count == -1 || semaphore < 0) throw c.refuse("an eventfd whose fdinfo shows no eventfd-count or eventfd-semaphore");
        int objref = c.table().nextObjref();
        c.table().eventLoops().eventfd(new EventfdRecord(objref, semaphore == 1, count));
        return new OpenFileRecord(objref, OpenFileRecord.Kind.EVENTFD, 0, 0, c.flags(), 0, 0, c.link());
    }

    public Restorer restorer(RestoreContext rc) {
        return new Restorer() {
            private final List<Integer> made = new ArrayList<>();

            public int open(OpenFileRecord d) throws SysException {
                EventfdRecord e = rc.eventLoops().eventfd(d.objref());
                int fd = EventPoll.eventfd(EventPoll.EFD_CLOEXEC | (e.semaphore() ? EventPoll.EFD_SEMAPHORE : 0) | EventPoll.EFD_NONBLOCK);
                made.add(fd);
                if (e.count() != 0) EventPoll.eventfdWrite(fd, e.count());
                Fd.fcntl(fd, Fd.F_SETFL, d.flags());
                return fd;
            }

            public void close() {
                for (int fd : made) Fd.close(fd);
                made.clear();
            }
        };
    }
}
