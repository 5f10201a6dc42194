package cryo.tty;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.HoldsPids;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.IntUnaryOperator;

/**
 * CTTY: session `sid` (its leader is in the tree) has the slave of PTY `pty` as its controlling terminal, and
 * process group `foreground` is that terminal's foreground group (/proc/PID/stat fields 7 tty_nr, 8 tpgid).
 */
public record CttyRecord(int sid, int pty, int foreground) implements TtyRecord, HoldsPids {
    public RecordType type() {
        return RecordType.CTTY;
    }

    public void encode(Encoder e) {
        e.u32(sid).u32(pty).u32(foreground);
    }

    public static CttyRecord decode(Decoder d) throws ImageException {
        return new CttyRecord(d.u32("sid", 1, Integer.MAX_VALUE), d.u32("pty", 1, Integer.MAX_VALUE), d.u32("foreground", 1, Integer.MAX_VALUE));
    }

    public ImageRecord withPids(IntUnaryOperator toImage) {
        return new CttyRecord(toImage.applyAsInt(sid), pty, toImage.applyAsInt(foreground));
    }

    public Map<String, Object> fields() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("sid", sid);
        m.put("pty", pty);
        m.put("foreground", foreground);
        return m;
    }
}
