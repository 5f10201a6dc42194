package cryo.tty;

import cryo.files.FileKind;
import cryo.files.OpenFileRecord;
import cryo.files.RestoreContext;
import cryo.sys.Fd;
import cryo.sys.SysException;
import cryo.sys.Termios;
import cryo.sys.Tty;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Restart's half of pty pairs: each master is a new open of the ptmx of the devpts at the tree's /dev/pts
 * (its number is what that devpts gives; in a container's own devpts, made anew, the same as before),
 * unlocked, with cryo's own slave description (TIOCGPTPEER) unless the slave had never been opened; then the
 * slave's modes and window size, the bytes waiting both ways (PtyQueues), packet mode and the status flags. The
 * lock and exclusive modes come back in finish(), once every slave description of the tree is open; cryo's own
 * slave is closed last, so a slave that had been closed reads as closed at the master again.
 */
final class PtyRestore implements FileKind.Restorer {
    private record Pair(int master, int slave) {
    }

    private final RestoreContext rc;
    private final Map<Integer, Pair> pairs = new LinkedHashMap<>();
    /** Masters opened only to take the numbers below a pair's (a fresh devpts), by number. */
    private final Map<Integer, Integer> fillers = new java.util.HashMap<>();

    PtyRestore(RestoreContext rc) {
        this.rc = rc;
    }

    public int open(OpenFileRecord d) throws SysException {
        Pair have = pairs.get(d.objref());
        if (have != null) return have.master;
        PtyRecord p = rc.image().pty().pty(d.objref());
        String ptmx = rc.paths().path("/dev/pts/ptmx");
        int flags = (d.flags() & Fd.O_ACCMODE) | Tty.O_NOCTTY | Fd.O_CLOEXEC;
        int master = freshDevpts() ? openNumbered(ptmx, flags, p.index()) : Fd.open(ptmx, flags);
        int slave = -1;
        try {
            if (p.slave() != PtyRecord.Slave.NEVER_OPENED) {
                Tty.setPtyLocked(master, false);
                slave = Tty.openPeer(master, Fd.O_RDWR | Tty.O_NOCTTY | Fd.O_CLOEXEC);
            }
            p.termios().set(master, Termios.When.NOW);
            p.winsize().set(master);
            PtyImage image = rc.image().pty();
            PtyDataRecord in = image.data(p.objref(), PtyDataRecord.Direction.INPUT);
            if (in != null) PtyQueues.putInput(slave, p.termios(), in.chunks());
            PtyDataRecord out = image.data(p.objref(), PtyDataRecord.Direction.OUTPUT);
            if (out != null) PtyQueues.putOutput(master, slave, p.termios(), out.chunks().getFirst().data());
            if (p.packet()) Tty.setPacketMode(master, true);
            Fd.fcntl(master, Fd.F_SETFL, d.flags());
        } catch (SysException | RuntimeException e) {
            Fd.close(master);
            if (slave >= 0) Fd.close(slave);
            throw e;
        }
        pairs.put(d.objref(), new Pair(master, slave));
        return master;
    }

    /**
     * Whether the tree's /dev/pts is a devpts restart made anew (a container's own): only cryo has opened its
     * ptmx, which gives the lowest free number (devpts_new_index(), an IDA), so the pairs can have their numbers.
     */
    private boolean freshDevpts() {
        cryo.image.Image image = rc.image();
        return image.namespaces != null && image.mounts().restoredByCryo("/dev/pts/ptmx");
    }

    /** Opens ptmx until it gives pty `want`, keeping the lower numbers it gives meanwhile (fillers, closed last). */
    private int openNumbered(String ptmx, int flags, int want) throws SysException {
        Integer filler = fillers.remove(want);
        if (filler != null) Fd.close(filler);
        while (true) {
            int m = Fd.open(ptmx, flags);
            int n;
            try {
                n = Tty.ptyNumber(m);
            } catch (SysException e) {
                Fd.close(m);
                throw e;
            }
            if (n == want) return m;
            if (n > want || fillers.size() > PtyRecord.MAX_INDEX) {
                Fd.close(m);
                throw new SysException("open(" + ptmx + "): it gave pty " + n + ", not " + want + " (taken)", cryo.sys.Errno.EBUSY);
            }
            fillers.put(n, m);
        }
    }

    /** cryo's own description of the slave of the pty whose master is objref (for a controlling terminal). */
    int slave(int objref) throws SysException {
        rc.localFd(objref);
        int s = pairs.get(objref).slave;
        if (s < 0) throw new SysException("TIOCGPTPEER(" + rc.image().pty().pty(objref).describe() + "): its slave was never opened", cryo.sys.Errno.ENXIO);
        return s;
    }

    @Override
    public void finish() throws SysException {
        for (var e : pairs.entrySet()) {
            PtyRecord p = rc.image().pty().pty(e.getKey());
            Pair pair = e.getValue();
            if (p.slaveExclusive()) Tty.setExclusive(pair.slave, true);
            if (p.masterExclusive()) Tty.setExclusive(pair.master, true);
            if (p.locked()) Tty.setPtyLocked(pair.master, true);
        }
    }

    public void close() {
        for (int f : fillers.values()) Fd.close(f);
        fillers.clear();
        for (Pair p : pairs.values()) {
            if (p.slave >= 0) Fd.close(p.slave);
            Fd.close(p.master);
        }
        pairs.clear();
    }
}
