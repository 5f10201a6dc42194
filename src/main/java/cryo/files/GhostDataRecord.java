package cryo.files;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;

import java.lang.foreign.MemorySegment;

/** GHOST_DATA: bytes of GHOST `ghost` at byte offset `offset`, {u32 ghost; u32 crc32c; u64 offset} then the data. */
public record GhostDataRecord(int ghost, long offset, int crc, MemorySegment data) implements FileData.Chunk {
    /** A record to write: ImageWriter computes the CRC of the data as it writes them. */
    public static GhostDataRecord of(int ghost, long offset, MemorySegment data) {
        return new GhostDataRecord(ghost, offset, 0, data);
    }

    /** Written from FileData's own read buffer, which nothing else writes. */
    @Override
    public boolean stable() {
        return true;
    }

    public RecordType type() {
        return RecordType.GHOST_DATA;
    }

    public String describe() {
        return "GHOST_DATA of ghost file " + ghost + " at offset " + offset;
    }

    public void encode(Encoder e) {
        e.u32(ghost).u32(crc).u64(offset);
    }

    public static GhostDataRecord decode(Decoder d) throws ImageException {
        int ghost = d.u32("ghost", 1, Integer.MAX_VALUE);
        int crc = d.u32("crc32c");
        long offset = d.u64("offset");
        MemorySegment data = d.rest();
        if (offset < 0) throw d.error("offset", "is negative");
        if (data.byteSize() == 0) throw d.error("data", "is empty");
        return new GhostDataRecord(ghost, offset, crc, data);
    }
}
