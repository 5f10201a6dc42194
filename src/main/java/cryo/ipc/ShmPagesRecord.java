package cryo.ipc;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.PayloadRecord;
import cryo.image.RecordType;

import java.lang.foreign.MemorySegment;

/**
 * SHM_PAGES: a run of pages of shared memory segment `id` at byte offset `offset`,
 * {u32 id; u32 crc32c; u64 offset} then the data.
 */
public record ShmPagesRecord(int id, long offset, int crc, MemorySegment data) implements PayloadRecord {
    /** A record to write: ImageWriter computes the CRC of the data as it writes them. */
    public static ShmPagesRecord of(int id, long offset, MemorySegment data) {
        return new ShmPagesRecord(id, offset, 0, data);
    }

    public RecordType type() {
        return RecordType.SHM_PAGES;
    }

    public String describe() {
        return "SHM_PAGES of segment " + id + " at offset " + offset;
    }

    public void encode(Encoder e) {
        e.u32(id).u32(crc).u64(offset);
    }

    public static ShmPagesRecord decode(Decoder d) throws ImageException {
        int id = d.u32("id", 0, Integer.MAX_VALUE);
        int crc = d.u32("crc32c");
        long offset = d.u64("offset");
        MemorySegment data = d.rest();
        if ((offset & 4095) != 0 || offset < 0) throw d.error("offset", offset + " is not page aligned");
        if (data.byteSize() == 0 || data.byteSize() % 4096 != 0) throw d.error("data", "is " + data.byteSize() + " bytes, not whole pages");
        return new ShmPagesRecord(id, offset, crc, data);
    }
}
