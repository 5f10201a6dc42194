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

    public RecordType type() {
        return RecordType.MEMFD_DATA;
    }

    public String describe() {
        return "MEMFD_DATA of memfd " + memfd + " at offset " + offset;
    }

    public void encode(Encoder e) {
        FileData.Chunk.write(e, memfd, crc, offset);
    }

    public static MemfdDataRecord decode(Decoder d) throws ImageException {
        FileData.Chunk.Fields f = FileData.Chunk.read(d, "memfd");
        return new MemfdDataRecord(f.owner(), f.offset(), f.crc(), f.data());
    }
}
