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

    /** Written from FileData's own read buffer, which nothing else writes. */
    @Override
    public boolean stable() {
        return true;
    }

    public RecordType type() {
        return RecordType.TMPFS_DATA;
    }

    public String describe() {
        return "TMPFS_DATA of tmpfs file " + file + " at offset " + offset;
    }

    public void encode(Encoder e) {
        e.u32(file).u32(crc).u64(offset);
    }

    public static TmpfsDataRecord decode(Decoder d) throws ImageException {
        int file = d.u32("file", 1, Integer.MAX_VALUE);
        int crc = d.u32("crc32c");
        long offset = d.u64("offset");
        MemorySegment data = d.rest();
        if (offset < 0) throw d.error("offset", "is negative");
        if (data.byteSize() == 0) throw d.error("data", "is empty");
        return new TmpfsDataRecord(file, offset, crc, data);
    }
}
