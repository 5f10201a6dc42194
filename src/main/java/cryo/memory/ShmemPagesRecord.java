package cryo.memory;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.PayloadRecord;
import cryo.image.RecordType;

import java.lang.foreign.MemorySegment;

/**
 * SHMEM_PAGES: a run of pages of the SHMEM object `id` at byte offset `offset` into the object,
 * {u32 id; u32 crc32c; u64 offset} then the data.
 */
public record ShmemPagesRecord(int id, long offset, int crc, MemorySegment data) implements PayloadRecord {
    /** A record to write: ImageWriter computes the CRC of the data as it writes them. */
    public static ShmemPagesRecord of(int id, long offset, MemorySegment data) {
        return new ShmemPagesRecord(id, offset, 0, data);
    }

    public RecordType type() {
        return RecordType.SHMEM_PAGES;
    }

    public String describe() {
        return "SHMEM_PAGES of object " + id + " at offset " + offset;
    }

    public void encode(Encoder e) {
        e.u32(id).u32(crc).u64(offset);
    }

    public static ShmemPagesRecord decode(Decoder d) throws ImageException {
        int id = d.u32("id", 1, Integer.MAX_VALUE);
        int crc = d.u32("crc32c");
        long offset = d.u64("offset");
        MemorySegment data = d.rest();
        if (offset < 0 || offset % Vmas.PAGE != 0) throw d.error("offset", offset + " is not page aligned");
        if (data.byteSize() == 0 || data.byteSize() % Vmas.PAGE != 0) throw d.error("data", "is " + data.byteSize() + " bytes, not whole pages");
        return new ShmemPagesRecord(id, offset, crc, data);
    }
}
