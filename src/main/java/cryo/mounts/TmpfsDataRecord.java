package cryo.mounts;

import cryo.files.FileData;
import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;

import java.lang.foreign.MemorySegment;

/** TMPFS_DATA: bytes of TMPFS_FILE `file` at byte offset `offset`, {u32 file; u32 crc32c; u64 offset} then the data. */
public record TmpfsDataRecord(int file, long offset, int crc, MemorySegment data) implements FileData.Chunk, MountsRecord {
    /** A record to write: ImageWriter computes the CRC of the data as it writes them. */
    public static TmpfsDataRecord of(int file, long offset, MemorySegment data) {
        return new TmpfsDataRecord(file, offset, 0, data);
    }

    public RecordType type() {
        return RecordType.TMPFS_DATA;
    }

    public String describe() {
        return "TMPFS_DATA of tmpfs file " + file + " at offset " + offset;
    }

    public void encode(Encoder e) {
        FileData.Chunk.write(e, file, crc, offset);
    }

    public static TmpfsDataRecord decode(Decoder d) throws ImageException {
        FileData.Chunk.Fields f = FileData.Chunk.read(d, "file");
        return new TmpfsDataRecord(f.owner(), f.offset(), f.crc(), f.data());
    }
}
