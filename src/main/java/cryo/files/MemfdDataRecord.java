package cryo.files;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;

import java.lang.foreign.MemorySegment;

/** MEMFD_DATA: bytes of MEMFD `memfd` at byte offset `offset`, {u32 memfd; u32 crc32c; u64 offset} then the data. */
public record MemfdDataRecord(int memfd, long offset, int crc, MemorySegment data) implements FileData.Chunk {
    /** A record to write: ImageWriter computes the CRC of the data as it writes them. */
    public static MemfdDataRecord of(int memfd, long offset, MemorySegment data) {
        return new MemfdDataRecord(memfd, offset, 0, data);
    }

    /** Written from FileData's own read buffer, which nothing else writes. */
    @Override
    public boolean stable() {
        return true;
    }

    public RecordType type() {
        return RecordType.MEMFD_DATA;
    }

    public String describe() {
        return "MEMFD_DATA of memfd " + memfd + " at offset " + offset;
    }

    public void encode(Encoder e) {
        e.u32(memfd).u32(crc).u64(offset);
    }

    public static MemfdDataRecord decode(Decoder d) throws ImageException {
        int memfd = d.u32("memfd", 1, Integer.MAX_VALUE);
        int crc = d.u32("crc32c");
        long offset = d.u64("offset");
        MemorySegment data = d.rest();
        if (offset < 0) throw d.error("offset", "is negative");
        if (data.byteSize() == 0) throw d.error("data", "is empty");
        return new MemfdDataRecord(memfd, offset, crc, data);
    }
}
