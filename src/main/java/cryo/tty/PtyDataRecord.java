package cryo.tty;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * PTY_DATA: bytes waiting in PTY `pty`, in one direction. INPUT: taken by the slave's line discipline (written
 * at the master, translated and echoed already) and not yet read at the slave; OUTPUT: written at the slave
 * (after its output processing) and not yet read at the master. INPUT of a canonical slave is its lines, each
 * ended by its delimiter ('\n', VEOL or VEOL2: LINE) or by the EOF character (which the reader never sees:
 * LINE_EOF), then the line not ended yet (PARTIAL); otherwise one RAW chunk.
 */
public record PtyDataRecord(int pty, Direction direction, List<Chunk> chunks) implements TtyRecord {
    public enum Direction { INPUT, OUTPUT }

    public enum Kind { RAW, LINE, LINE_EOF, PARTIAL }

    public record Chunk(Kind kind, byte[] data) {
    }

    /** The most a line discipline's buffer holds (N_TTY_BUF_SIZE - 1, drivers/tty/n_tty.c). */
    public static final int MAX_BYTES = 4095;
    /** The most output a master can have waiting: its buffer and the slave's writes not yet pushed to it (64 KiB, tty_buffer.c). */
    public static final int MAX_OUTPUT = MAX_BYTES + 65536;

    public int bytes() {
        int n = 0;
        for (Chunk c : chunks) n += c.data.length;
        return n;
    }

    public RecordType type() {
        return RecordType.PTY_DATA;
    }

    public void encode(Encoder e) {
        e.u32(pty).u32(direction.ordinal()).u32(chunks.size());
        for (Chunk c : chunks) e.u32(c.kind.ordinal()).bytes(c.data);
    }

    public static PtyDataRecord decode(Decoder d) throws ImageException {
        int pty = d.u32("pty", 1, Integer.MAX_VALUE);
        Direction dir = Direction.values()[d.u32("direction", 0, Direction.values().length - 1)];
        int n = d.u32("count", 1, MAX_BYTES + 1);
        int max = dir == Direction.OUTPUT ? MAX_OUTPUT : MAX_BYTES;
        List<Chunk> chunks = new ArrayList<>();
        int total = 0;
        for (int i = 0; i < n; i++) {
            Kind k = Kind.values()[d.u32("chunk.kind", 0, Kind.values().length - 1)];
            byte[] b = d.bytes("chunk.data", max);
            total += b.length;
            if (total > max) throw d.error("chunk.data", "makes " + total + " bytes, more than a pty holds that way (" + max + ")");
            if (k == Kind.RAW && n != 1) throw d.error("chunk.kind", "is RAW among " + n + " chunks (RAW comes alone)");
            if (k == Kind.PARTIAL && i != n - 1) throw d.error("chunk.kind", "is PARTIAL before the last chunk");
            if (dir == Direction.OUTPUT && k != Kind.RAW) throw d.error("chunk.kind", "is " + k + " in OUTPUT (only RAW)");
            if ((k == Kind.RAW || k == Kind.LINE || k == Kind.PARTIAL) && b.length == 0) throw d.error("chunk.data", "is empty in a " + k + " chunk");
            chunks.add(new Chunk(k, b));
        }
        return new PtyDataRecord(pty, dir, List.copyOf(chunks));
    }

    public Map<String, Object> fields() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("pty", pty);
        m.put("direction", direction.toString().toLowerCase());
        List<String> c = new ArrayList<>();
        for (Chunk ch : chunks) c.add(ch.kind.toString().toLowerCase() + ":" + ch.data.length);
        m.put("chunks", c);
        m.put("bytes", bytes());
        return m;
    }
}
