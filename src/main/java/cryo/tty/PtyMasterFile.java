package cryo.tty;

import cryo.files.FdContext;
import cryo.files.FileKind;
import cryo.files.OpenFileRecord;
import cryo.files.RestoreContext;
import cryo.image.Refusal;
import cryo.sys.EventPoll;
import cryo.sys.Fd;
import cryo.sys.Proc;
import cryo.sys.SysException;
import cryo.sys.Termios;
import cryo.sys.Tty;
import cryo.sys.Winsize;

import java.io.IOException;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * The master of a pty pair inside the tree, both halves. Checkpoint reads the pair through a duplicate of the
 * master (pidfd_getfd) and cryo's own description of the slave (TIOCGPTPEER): the slave's modes and window
 * size, packet mode, lock, exclusive modes, and the bytes waiting both ways (PtyQueues), which it puts back at
 * once, so a tree left running finds its pair as it was. A slave never opened is not opened (that would leave
 * the master reading EIO once it closes); its input, if the master wrote any, cannot be read (documented).
 * Restart: PtyRestore.
 */
public final class PtyMasterFile implements FileKind {
    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.PTY_MASTER);
    }

    public boolean takes(FdContext c) throws IOException {
        if (!Ptys.isMasterLink(c.link()) || c.external().contains(c.link())) return false;
        try {
            return cryo.sys.ProcFile.read("/proc/" + c.pid() + "/fdinfo/" + c.fd()).contains("tty-index:");
        } catch (IOException gone) {
            return false;
        }
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        Ptys ptys = Ptys.of(c);
        Ptys.Key key;
        try {
            key = Ptys.masterKey(c.pid(), c.fd());
        } catch (SysException e) {
            throw c.refuse("a pty master (" + c.link() + "): " + e.getMessage());
        }
        String what = "the master of pty " + key.index() + " (" + c.link() + ")";
        if (key.devpts() != ptys.treeDevpts) {
            throw c.refuse(what + " of a devpts that is not the one at the tree's /dev/pts: not supported (restart opens that devpts' ptmx)");
        }
        // every master links to the one ptmx: kcmp(2) tells whether an outside fd is this master
        c.refuseIfSharedOutside(what);
        int objref = ptys.masterObjref(key, c.table());
        int dup;
        try {
            dup = Proc.pidfdGetfd(c.pid(), c.fd());
        } catch (SysException e) {
            throw c.refuse(what + ": " + e.getMessage());
        }
        try {
            ptys.add(read(c, dup, objref, key, ptys.slaveHeld(key), what, ptys));
        } catch (SysException e) {
            throw c.refuse(what + ": " + e.getMessage());
        } finally {
            Fd.close(dup);
        }
        return new OpenFileRecord(objref, OpenFileRecord.Kind.PTY_MASTER, 0, 0, c.flags(), 0, 0, c.link());
    }

    /** Reads the pair; its queues are put back before this returns (refusals come after). */
    private static PtyRecord read(FdContext c, int master, int objref, Ptys.Key key, boolean slaveHeld, String what, Ptys ptys)
            throws Refusal, SysException {
        Termios t = Termios.get(master);
        if (t.line() != 0) throw c.refuse(what + " whose slave has line discipline " + t.line() + ", not N_TTY: not supported");
        if ((t.lflag() & Termios.EXTPROC) != 0) throw c.refuse(what + " whose slave has EXTPROC (external line editing) set: not supported");
        boolean packet = Tty.packetMode(master), locked = Tty.ptyLocked(master);
        int events = EventPoll.readiness(master);
        if (packet && (events & EventPoll.EPOLLPRI) != 0) {
            throw c.refuse(what + " in packet mode with a status byte not read yet (TIOCPKT_FLUSH*, STOP, START...): not supported");
        }
        PtyRecord.Slave slave = slaveHeld ? PtyRecord.Slave.OPEN
                : (events & EventPoll.EPOLLHUP) != 0 ? PtyRecord.Slave.CLOSED : PtyRecord.Slave.NEVER_OPENED;
        if (slave == PtyRecord.Slave.NEVER_OPENED) refuseSlaveOutside(c, key, what);
        boolean slaveExclusive = false;
        List<PtyDataRecord.Chunk> input = List.of();
        byte[] output;
        int own = -1;
        if (slave != PtyRecord.Slave.NEVER_OPENED) {
            if (locked) Tty.setPtyLocked(master, false);
            try {
                own = Tty.openPeer(master, Fd.O_RDWR | Tty.O_NOCTTY | Fd.O_NONBLOCK | Fd.O_CLOEXEC);
            } finally {
                if (locked) Tty.setPtyLocked(master, true);
            }
        }
        String side = "task " + c.pid() + " fd " + c.fd() + ", " + what;
        try {
            if (own >= 0) {
                slaveExclusive = Tty.exclusive(own);
                input = PtyQueues.takeInput(own, t, side);
            }
            output = PtyQueues.takeOutput(master, packet, side);
            if (own >= 0) PtyQueues.putInput(own, t, input);
            PtyQueues.putOutput(master, own, t, output);
        } finally {
            if (own >= 0) Fd.close(own);
        }
        int in = input.stream().mapToInt(ch -> ch.data().length).sum();
        if (in > PtyDataRecord.MAX_BYTES) throw c.refuse(what + " with " + in + " bytes of input waiting, more than its line buffer holds: not supported");
        if (output.length > PtyDataRecord.MAX_OUTPUT || (own < 0 && output.length > PtyDataRecord.MAX_BYTES)) {
            throw c.refuse(what + " with " + output.length + " bytes of output waiting: not supported");
        }
        if ((t.iflag() & Termios.IXON) != 0 && (t.lflag() & Termios.ICANON) == 0) {
            for (PtyDataRecord.Chunk ch : input) {
                for (byte b : ch.data()) {
                    int v = b & 0xff;
                    if (v != 0 && (v == t.cc(Termios.VSTART) || v == t.cc(Termios.VSTOP))) {
                        throw c.refuse(what + " with a START or STOP character waiting in its non-canonical input under IXON: cannot be put back (not supported)");
                    }
                }
            }
        }
        PtyRecord r = new PtyRecord(objref, key.index(), key.devpts(), t, Winsize.get(master), packet, locked, Tty.exclusive(master),
                slaveExclusive, slave);
        if (!input.isEmpty()) ptys.add(new PtyDataRecord(objref, PtyDataRecord.Direction.INPUT, input));
        if (output.length > 0) ptys.add(new PtyDataRecord(objref, PtyDataRecord.Direction.OUTPUT, List.of(new PtyDataRecord.Chunk(PtyDataRecord.Kind.RAW, output))));
        return r;
    }

    /** A slave open but by none of the tree: some process outside holds it (restart would cut it off). */
    private static void refuseSlaveOutside(FdContext c, Ptys.Key key, String what) throws Refusal {
        String slave = "/dev/pts/" + key.index();
        try {
            for (var h : cryo.files.FileTable.outsideHolders(c.table().processes(), Set.of(slave)).getOrDefault(slave, List.of())) {
                var a = java.nio.file.Files.readAttributes(java.nio.file.Path.of("/proc/" + h.pid() + "/fd/" + h.fd()), "unix:dev,rdev");
                if (key.equals(Ptys.slaveKey((Long) a.get("dev"), (Long) a.get("rdev")))) {
                    throw c.refuse(what + " whose slave task " + h.pid() + " (fd " + h.fd() + ") outside the tree holds: not supported"
                            + " (restart would give the tree a pair of its own)");
                }
            }
        } catch (IOException gone) {
            // the outside holder closed it meanwhile
        }
    }

    public Restorer restorer(RestoreContext rc) {
        return new PtyRestore(rc);
    }
}
