package cryo.files;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;

/**
 * PIPE: one pipe or FIFO buffer (the kernel series' ckpt_hdr_pipe plus its data), saved once, the first
 * time either end is met, and named by objref from the OPEN_FILE records of its ends. data is what was
 * buffered and unread, in order; capacity is the pipe's size (F_GETPIPE_SZ).
 */
public record PipeRecord(int objref, long inode, int capacity, byte[] data) implements ImageRecord {
    /** The largest capacity accepted (F_SETPIPE_SZ takes up to fs.pipe-max-size, 1 MiB by default). */
    public static final int MAX_CAPACITY = 1 << 30;

    public RecordType type() {
        return RecordType.PIPE;
    }

    public void encode(Encoder e) {
        e.u32(objref).u32(capacity).u64(inode).bytes(data);
    }

    public static PipeRecord decode(Decoder d) throws ImageException {
        int objref = d.u32("objref", 1, Integer.MAX_VALUE);
        int capacity = d.u32("capacity", 4096, MAX_CAPACITY);
        if (Integer.bitCount(capacity) != 1) throw d.error("capacity", "is " + capacity + ", not a power of two");
        long inode = d.u64("inode");
        byte[] data = d.bytes("data", MAX_CAPACITY);
        if (data.length > capacity) throw d.error("data", "holds " + data.length + " bytes, more than the pipe's capacity of " + capacity);
        return new PipeRecord(objref, inode, capacity, data);
    }
}
