package cryo.image;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/** Reads one record's body with bounds checks; every error names the record (e.g. "VMA #3") and the field. */
public final class Decoder {
    private final MemorySegment body;
    private String record;
    private final RecordType type;
    private final int index;
    private long pos;

    public Decoder(MemorySegment body, String record) {
        this.body = body;
        this.record = record;
        this.type = null;
        this.index = 0;
    }

    /** For record number `index` of its type; the name ("VMA #3") is made only for an error. */
    Decoder(MemorySegment body, RecordType type, int index) {
        this.body = body;
        this.type = type;
        this.index = index;
    }

    public String record() {
        if (record == null) record = type + " #" + index;
        return record;
    }

    public ImageException error(String field, String problem) {
        return new ImageException("record " + record() + ": field '" + field + "' " + problem);
    }

    private void need(long n, String field) throws ImageException {
        if (n < 0 || pos + n > body.byteSize()) throw error(field, "runs past the end of the record");
    }

    public int u32(String field) throws ImageException {
        need(4, field);
        int v = body.get(JAVA_INT_UNALIGNED, pos);
        pos += 4;
        return v;
    }

    public long u64(String field) throws ImageException {
        need(8, field);
        long v = body.get(JAVA_LONG_UNALIGNED, pos);
        pos += 8;
        return v;
    }

    /** A u32 that must lie in [min, max]. */
    public int u32(String field, long min, long max) throws ImageException {
        int v = u32(field);
        if (v < min || v > max) throw error(field, "is " + v + ", outside " + min + ".." + max);
        return v;
    }

    /**
     * A count of entries (field + ".count" or the like) in [min, max], each at least entryBytes long: a count
     * the rest of the record cannot hold is refused before anything is allocated for it.
     */
    public int count(String field, int min, int max, int entryBytes) throws ImageException {
        int n = u32(field, min, max);
        long room = (body.byteSize() - pos) / Math.max(entryBytes, 1);
        if (n > room) throw error(field, "is " + n + ", more entries than the " + (body.byteSize() - pos) + " bytes left in the record hold");
        return n;
    }

    public byte[] bytes(String field, int max) throws ImageException {
        int n = u32(field + ".length");
        if (n < 0 || n > max) throw error(field, "has length " + n + " (at most " + max + ")");
        need(n, field);
        byte[] b = body.asSlice(pos, n).toArray(JAVA_BYTE);
        pos += n;
        return b;
    }

    public String str(String field) throws ImageException {
        return new String(bytes(field, 4096), StandardCharsets.UTF_8);
    }

    public long[] longs(String field, int max) throws ImageException {
        int n = u32(field + ".length");
        if (n < 0 || n > max) throw error(field, "has " + n + " entries (at most " + max + ")");
        need(8L * n, field);
        long[] v = new long[n];
        for (int i = 0; i < n; i++) v[i] = u64(field);
        return v;
    }

    public List<byte[]> blobs(String field, int maxCount, int maxSize) throws ImageException {
        int n = u32(field + ".count");
        if (n < 0 || n > maxCount) throw error(field, "has " + n + " entries (at most " + maxCount + ")");
        if (n > (body.byteSize() - pos) / 4) throw error(field, "has " + n + " entries, more than the " + (body.byteSize() - pos) + " bytes left in the record hold");
        List<byte[]> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) out.add(bytes(field, maxSize));
        return out;
    }

    /** True while fields remain (an optional field at the end of a record). */
    public boolean more() {
        return pos < body.byteSize();
    }

    /** The rest of the body, without copying (page data). */
    public MemorySegment rest() {
        MemorySegment s = body.asSlice(pos);
        pos = body.byteSize();
        return s;
    }

    public void end() throws ImageException {
        if (pos != body.byteSize()) {
            throw new ImageException("record " + record() + ": " + (body.byteSize() - pos) + " unexpected bytes after the last field");
        }
    }
}
