package cryo.tty;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * PTY_SLAVE: OPEN_FILE `objref` (PTY_SLAVE) is a description of the slave of PTY `pty` (its master's objref).
 * devTty: it was opened as /dev/tty (the controlling terminal); restart opens the slave itself (its fds then
 * read as /dev/pts/N).
 */
public record PtySlaveRecord(int objref, int pty, boolean devTty) implements TtyRecord {
    public RecordType type() {
        return RecordType.PTY_SLAVE;
    }

    public void encode(Encoder e) {
        e.u32(objref).u32(pty).u32(devTty ? 1 : 0);
    }

    public static PtySlaveRecord decode(Decoder d) throws ImageException {
        return new PtySlaveRecord(d.u32("objref", 1, Integer.MAX_VALUE), d.u32("pty", 1, Integer.MAX_VALUE), d.u32("dev_tty", 0, 1) == 1);
    }

    public Map<String, Object> fields() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("objref", objref);
        m.put("pty", pty);
        if (devTty) m.put("opened_as", "/dev/tty");
        return m;
    }
}
