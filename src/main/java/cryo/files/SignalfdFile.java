package cryo.files;

import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.SysException;
import cryo.sys.Timers;

import java.io.IOException;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * An fd of a signalfd (signalfd(2)): its mask from fdinfo (fs/signalfd.c signalfd_show_fdinfo), its flags
 * (O_NONBLOCK) from the description. A signalfd holds no signals: reading it dequeues what is pending for the
 * reading task, which the TASK and THREAD records restore. So restart creates it in cryo with signalfd4 and
 * the broker hands it over like any file.
 */
final class SignalfdFile implements FileKind {
    static final String LINK = "anon_inode:[signalfd]";

    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.SIGNALFD);
    }

    public boolean takes(FdContext c) {
        return c.link().equals(LINK);
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        c.refuseIfSharedOutside("a signalfd");
        String mask = null;
        for (String line : cryo.sys.ProcFile.read("/proc/" + c.pid() + "/fdinfo/" + c.fd()).split("\n")) {
            if (line.startsWith("sigmask:")) mask = line.substring(8).trim();
        }
        if (mask == null) throw new IOException("fdinfo of fd " + c.fd() + " of task " + c.pid() + " has no sigmask line");
        SignalfdRecord s = new SignalfdRecord(c.table().nextObjref(), Long.parseUnsignedLong(mask, 16));
        c.table().object(s);
        return new OpenFileRecord(c.table().nextObjref(), OpenFileRecord.Kind.SIGNALFD, s.objref(), 0, c.flags(), 0, 0, c.link());
    }

    public Restorer restorer(RestoreContext rc) {
        return new Restorer() {
            private final List<Integer> created = new ArrayList<>();

            public int open(OpenFileRecord d) throws SysException {
                int fd = Timers.signalfd(rc.signalfds().get(d.file()).sigmask(), d.flags() & Fd.O_NONBLOCK);
                created.add(fd);
                return fd;
            }

            public void close() {
                for (int fd : created) Fd.close(fd);
                created.clear();
            }
        };
    }
}
