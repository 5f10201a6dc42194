package cryo.image;

/** TAIL: the length of everything before it and its CRC32C, so truncation and corruption are caught up front. */
public record Tail(long length, int crc32c) implements ImageRecord {
    public RecordType type() {
        return RecordType.TAIL;
    }

    public void encode(Encoder e) {
        e.u64(length).u32(crc32c).u32(0);
    }

    static Tail decode(Decoder d) throws ImageException {
        Tail t = new Tail(d.u64("length"), d.u32("crc32c"));
        d.u32("pad");
        return t;
    }
}
