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

    public RecordType type() {
        return RecordType.GHOST_DATA;
    }

    public String describe() {
        return "GHOST_DATA of ghost file " + ghost + " at offset " + offset;
    }

    public void encode(Encoder e) {
        FileData.Chunk.write(e, ghost, crc, offset);
    }

    public static GhostDataRecord decode(Decoder d) throws ImageException {
        FileData.Chunk.Fields f = FileData.Chunk.read(d, "ghost");
        return new GhostDataRecord(f.owner(), f.offset(), f.crc(), f.data());
    }
}
