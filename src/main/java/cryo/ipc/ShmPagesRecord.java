package cryo.ipc;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;

import java.lang.foreign.MemorySegment;

/** SHM_PAGES: a run of pages of shared memory segment `id` at byte offset `offset`, data straight after. */
public record ShmPagesRecord(int id, long offset, MemorySegment data) implements ImageRecord {
    public RecordType type() {
        return RecordType.SHM_PAGES;
    }

    public void encode(Encoder e) {
        e.u32(id).u32(0).u64(offset);
    }

    public static ShmPagesRecord decode(Decoder d) throws ImageException {
        int id = d.u32("id", 0, Integer.MAX_VALUE);
        d.u32("pad");
        long offset = d.u64("offset");
        MemorySegment data = d.rest();
        if ((offset & 4095) != 0 || offset < 0) throw d.error("offset", offset + " is not page aligned");
        if (data.byteSize() == 0 || data.byteSize() % 4096 != 0) throw d.error("data", "is " + data.byteSize() + " bytes, not whole pages");
        return new ShmPagesRecord(id, offset, data);
    }
}
