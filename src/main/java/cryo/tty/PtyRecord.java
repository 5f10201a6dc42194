package cryo.tty;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;
import cryo.sys.Termios;
import cryo.sys.Winsize;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * PTY: a pseudo-terminal pair whose master description is OPEN_FILE `objref` (PTY_MASTER). index: its number
 * at checkpoint (/dev/pts/N; restart gets what the devpts gives, the same only in a container's own new
 * devpts); devpts: st_dev of that devpts (for `cryo show`). termios and winsize: the slave's (TIOCGWINSZ on
 * the master reads the slave's); packet: TIOCPKT on the master; locked: TIOCGPTLCK; masterExclusive and
 * slaveExclusive: TIOCEXCL on either side; slave: whether the slave had never been opened, was open, or had
 * been opened and closed again (the master then reads EIO once its queue is empty: TTY_OTHER_CLOSED).
 */
public record PtyRecord(int objref, int index, long devpts, Termios termios, Winsize winsize, boolean packet, boolean locked,
                        boolean masterExclusive, boolean slaveExclusive, Slave slave) implements TtyRecord {
    public enum Slave { NEVER_OPENED, OPEN, CLOSED }

    /** The most pty numbers a devpts gives (kernel.pty.max is at most 1 << 20). */
    static final int MAX_INDEX = 1 << 20;

    public RecordType type() {
        return RecordType.PTY;
    }

    public void encode(Encoder e) {
        e.u32(objref).u32(index).u64(devpts);
        TtyFields.termios(e, termios);
        TtyFields.winsize(e, winsize);
        e.u32(packet ? 1 : 0).u32(locked ? 1 : 0).u32(masterExclusive ? 1 : 0).u32(slaveExclusive ? 1 : 0).u32(slave.ordinal());
    }

    public static PtyRecord decode(Decoder d) throws ImageException {
        int objref = d.u32("objref", 1, Integer.MAX_VALUE);
        int index = d.u32("index", 0, MAX_INDEX);
        long devpts = d.u64("devpts");
        Termios t = TtyFields.termios(d);
        Winsize w = TtyFields.winsize(d);
        boolean packet = d.u32("packet", 0, 1) == 1, locked = d.u32("locked", 0, 1) == 1;
        boolean mx = d.u32("master_exclusive", 0, 1) == 1, sx = d.u32("slave_exclusive", 0, 1) == 1;
        Slave slave = Slave.values()[d.u32("slave", 0, Slave.values().length - 1)];
        if (sx && slave == Slave.NEVER_OPENED) throw d.error("slave_exclusive", "is set on a slave never opened");
        if ((t.lflag() & Termios.EXTPROC) != 0) throw d.error("termios.c_lflag", "has EXTPROC, which cryo does not restore");
        return new PtyRecord(objref, index, devpts, t, w, packet, locked, mx, sx, slave);
    }

    /** Canonical input (lines) as the slave's reader sees it: ICANON (EXTPROC is refused at checkpoint). */
    public boolean canonical() {
        return (termios.lflag() & Termios.ICANON) != 0;
    }

    public String describe() {
        return "pty " + index + " (objref " + objref + ")";
    }

    public Map<String, Object> fields() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("objref", objref);
        m.put("index", index);
        m.put("devpts", devpts);
        m.put("termios", termios.toString());
        m.put("winsize", winsize.rows() + "x" + winsize.cols() + " " + winsize.xpixel() + "x" + winsize.ypixel() + "px");
        m.put("packet", packet);
        m.put("locked", locked);
        if (masterExclusive) m.put("master_exclusive", true);
        if (slaveExclusive) m.put("slave_exclusive", true);
        m.put("slave", slave.toString().toLowerCase());
        return m;
    }
}
