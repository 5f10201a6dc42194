package cryo.tty;

import cryo.files.FdContext;
import cryo.files.FileKind;
import cryo.files.OpenFileRecord;
import cryo.files.RestoreContext;
import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.SysException;
import cryo.sys.Tty;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A description of the slave of a pty pair whose master is in the tree, both halves: a /dev/pts/N fd, or a
 * /dev/tty fd opened while such a slave was the task's controlling terminal. A slave whose master is outside
 * the tree is InheritedFile's (a terminal the tree runs on). The pair's state is the master's record; restart
 * opens the slave anew from cryo's master (TIOCGPTPEER, O_NOCTTY: the controlling terminal is
 * ControllingTerminals'), with the description's access mode and status flags.
 */
public final class PtySlaveFile implements FileKind {
    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.PTY_SLAVE);
    }

    public boolean takes(FdContext c) throws IOException {
        if (c.external().contains(c.link())) return false;
        if (!Ptys.isSlaveLink(c.link()) && !c.link().equals("/dev/tty")) return false;
        Ptys ptys = Ptys.of(c);
        return ptys.inTree(key(c, ptys));
    }

    private static Ptys.Key key(FdContext c, Ptys ptys) throws IOException {
        try {
            if (c.link().equals("/dev/tty")) return ptys.devTtyKey(c.pid(), c.fd());
            Map<String, Object> a = Files.readAttributes(c.proc(), "unix:dev,rdev");
            return Ptys.slaveKey((Long) a.get("dev"), (Long) a.get("rdev"));
        } catch (SysException e) {
            return null;
        }
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        Ptys ptys = Ptys.of(c);
        Ptys.Key key = key(c, ptys);
        String what = "the slave of pty " + key.index() + " (" + c.link() + ")";
        for (var h : c.outside()) {
            // the same /dev/pts/N of the same devpts is the same pty, whatever the description
            Ptys.Key theirs;
            try {
                Map<String, Object> a = Files.readAttributes(java.nio.file.Path.of("/proc/" + h.pid() + "/fd/" + h.fd()), "unix:dev,rdev");
                theirs = Ptys.slaveKey((Long) a.get("dev"), (Long) a.get("rdev"));
            } catch (IOException gone) {
                continue;
            }
            if (key.equals(theirs)) {
                throw c.refuse(what + " that task " + h.pid() + " (fd " + h.fd() + ") outside the tree holds too: not supported"
                        + " (restart would give the tree a pair of its own)");
            }
        }
        int objref = c.table().nextObjref();
        ptys.add(new PtySlaveRecord(objref, ptys.masterObjref(key, c.table()), c.link().equals("/dev/tty")));
        return new OpenFileRecord(objref, OpenFileRecord.Kind.PTY_SLAVE, 0, 0, c.flags(), 0, 0, c.link());
    }

    public Restorer restorer(RestoreContext rc) {
        return new Restorer() {
            private final List<Integer> fds = new ArrayList<>();

            public int open(OpenFileRecord d) throws SysException {
                PtySlaveRecord s = rc.image().pty().slave(d.objref());
                int master = rc.localFd(s.pty());
                int fd = Tty.openPeer(master, (d.flags() & Fd.O_ACCMODE) | Tty.O_NOCTTY | Fd.O_CLOEXEC);
                fds.add(fd);
                Fd.fcntl(fd, Fd.F_SETFL, d.flags());
                return fd;
            }

            public void close() {
                for (int fd : fds) Fd.close(fd);
                fds.clear();
            }
        };
    }
}
