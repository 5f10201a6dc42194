package cryo.tty;

import cryo.files.OpenFileRecord;
import cryo.image.ImageException;
import cryo.image.Tree;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The pty records of an image, checked across records before anything is restored: each PTY names a
 * PTY_MASTER description, each PTY_SLAVE a PTY_SLAVE description and a PTY before it whose slave was open,
 * each PTY_DATA a PTY before it (input only into a slave that was opened, lines only for a canonical slave,
 * each LINE ended by a delimiter of its modes), each CTTY a session whose leader is in the tree, a pty whose
 * slave was open, and a foreground group of that session.
 */
public final class PtyImage {
    private final Map<Integer, PtyRecord> ptys = new LinkedHashMap<>();
    private final Map<Integer, PtySlaveRecord> slaves = new HashMap<>();
    private final Map<String, PtyDataRecord> data = new HashMap<>();
    private final Map<Integer, CttyRecord> ctty = new LinkedHashMap<>();

    PtyRecord pty(int objref) {
        return ptys.get(objref);
    }

    PtySlaveRecord slave(int objref) {
        return slaves.get(objref);
    }

    PtyDataRecord data(int pty, PtyDataRecord.Direction d) {
        return data.get(pty + ":" + d);
    }

    /** The controlling terminal of the session that pid leads, or null. */
    CttyRecord ctty(int sid) {
        return ctty.get(sid);
    }

    java.util.Collection<CttyRecord> terminals() {
        return ctty.values();
    }

    /** Checks one record against those before it (name: "PTY #2"). */
    public void add(TtyRecord r, String name, Map<Integer, OpenFileRecord> openFiles, Tree tree) throws ImageException {
        String at = "record " + name + ": ";
        switch (r) {
            case PtyRecord p -> {
                OpenFileRecord o = openFiles.get(p.objref());
                if (o == null || o.kind() != OpenFileRecord.Kind.PTY_MASTER) throw new ImageException(at + "field 'objref' " + p.objref() + " names no PTY_MASTER OPEN_FILE record before it");
                if (ptys.put(p.objref(), p) != null) throw new ImageException(at + "field 'objref' " + p.objref() + " is used twice");
            }
            case PtySlaveRecord s -> {
                OpenFileRecord o = openFiles.get(s.objref());
                if (o == null || o.kind() != OpenFileRecord.Kind.PTY_SLAVE) throw new ImageException(at + "field 'objref' " + s.objref() + " names no PTY_SLAVE OPEN_FILE record before it");
                PtyRecord p = ptyOf(s.pty(), at);
                if (p.slave() != PtyRecord.Slave.OPEN) throw new ImageException(at + "a description of the slave of " + p.describe() + ", whose record says the slave was " + p.slave().toString().toLowerCase().replace('_', ' '));
                if (slaves.put(s.objref(), s) != null) throw new ImageException(at + "field 'objref' " + s.objref() + " is used twice");
            }
            case PtyDataRecord d -> {
                PtyRecord p = ptyOf(d.pty(), at);
                if (data.put(d.pty() + ":" + d.direction(), d) != null) throw new ImageException(at + "a second " + d.direction() + " queue of " + p.describe());
                if (d.direction() == PtyDataRecord.Direction.INPUT && p.slave() == PtyRecord.Slave.NEVER_OPENED) throw new ImageException(at + "input for the slave of " + p.describe() + ", which was never opened");
                if (d.direction() == PtyDataRecord.Direction.OUTPUT && p.slave() == PtyRecord.Slave.NEVER_OPENED && d.bytes() > PtyDataRecord.MAX_BYTES) {
                    throw new ImageException(at + d.bytes() + " bytes of output of " + p.describe() + ", more than its master's buffer holds, and its slave was never opened");
                }
                for (PtyDataRecord.Chunk c : d.chunks()) {
                    if (c.kind() != PtyDataRecord.Kind.RAW && !p.canonical()) throw new ImageException(at + "field 'chunk.kind' is " + c.kind() + ", but the slave of " + p.describe() + " is not canonical");
                    if (c.kind() == PtyDataRecord.Kind.RAW && d.direction() == PtyDataRecord.Direction.INPUT && p.canonical()) throw new ImageException(at + "field 'chunk.kind' is RAW, but the slave of " + p.describe() + " is canonical (lines)");
                    boolean ends = c.data().length > 0 && PtyQueues.delimiter(c.data()[c.data().length - 1], p.termios());
                    if (c.kind() == PtyDataRecord.Kind.LINE && !ends) throw new ImageException(at + "a LINE chunk that does not end with a line delimiter of " + p.describe());
                    if (c.kind() == PtyDataRecord.Kind.LINE_EOF && ends) throw new ImageException(at + "a LINE_EOF chunk that ends with a line delimiter of " + p.describe());
                }
            }
            case CttyRecord c -> {
                PtyRecord p = ptyOf(c.pty(), at);
                if (p.slave() == PtyRecord.Slave.NEVER_OPENED) throw new ImageException(at + "the slave of " + p.describe() + " was never opened, so it is no one's controlling terminal");
                Tree.Process leader = tree.processes().stream().filter(x -> x.pid() == c.sid()).findFirst().orElse(null);
                if (leader == null || leader.zombie() || leader.sid() != c.sid()) throw new ImageException(at + "field 'sid' " + c.sid() + " is no session whose leader is a live process of the TREE");
                if (tree.processes().stream().noneMatch(x -> !x.zombie() && x.pgid() == c.foreground() && x.sid() == c.sid())) {
                    throw new ImageException(at + "field 'foreground' " + c.foreground() + " is no process group of session " + c.sid() + " in the TREE");
                }
                if (ctty.put(c.sid(), c) != null) throw new ImageException(at + "a second controlling terminal for session " + c.sid());
                if (ctty.values().stream().filter(x -> x.pty() == c.pty()).count() > 1) throw new ImageException(at + p.describe() + " is the controlling terminal of two sessions");
            }
        }
    }

    private PtyRecord ptyOf(int objref, String at) throws ImageException {
        PtyRecord p = ptys.get(objref);
        if (p == null) throw new ImageException(at + "field 'pty' names objref " + objref + ", which no PTY record before it has");
        return p;
    }

    /** Once every record is read: every pty description has its record. */
    public void checkComplete(Map<Integer, OpenFileRecord> openFiles) throws ImageException {
        for (OpenFileRecord o : openFiles.values()) {
            boolean missing = switch (o.kind()) {
                case PTY_MASTER -> !ptys.containsKey(o.objref());
                case PTY_SLAVE -> !slaves.containsKey(o.objref());
                default -> false;
            };
            if (missing) throw new ImageException("record OPEN_FILE " + o.description() + " (objref " + o.objref() + "): no " + o.kind() + " record describes it");
        }
    }
}
