package cryo.image;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.util.zip.CRC32C;

/**
 * Writes the image stream front to back, never seeking, so it can go to a pipe: the magic, then records
 * {u32 type; u32 len; body; pad to 8}, then TAIL with the length of everything before it and the CRC32C of
 * all of it but the data of PayloadRecords, which carry CRCs of their own.
 */
public final class ImageWriter {
    private final WritableByteChannel out;
    /** CRC32C of what was emitted since the last fold; folded holds the CRC of everything before that. */
    private CRC32C crc = new CRC32C();
    private long crcLen;
    private int folded;
    private final ByteBuffer header = ByteBuffer.allocateDirect(64).order(ByteOrder.LITTLE_ENDIAN);
    private long written;

    private final boolean seekable;
    /** Where writePayload snapshots the data of a record. */
    private MemorySegment copy;
    /** Host pid -> the pid the image holds; null: the same. */
    private java.util.function.IntUnaryOperator toImage;

    /** A stream written strictly in order (a pipe, or any channel). */
    public ImageWriter(WritableByteChannel out) throws IOException {
        this(out, false);
    }

    /** seekable: out is a FileChannel on a regular file that parts of the stream may be written into by position. */
    public ImageWriter(WritableByteChannel out, boolean seekable) throws IOException {
        this.out = out;
        this.seekable = seekable && out instanceof FileChannel;
        emit(ByteBuffer.wrap(Head.MAGIC));
    }

    /** True when other threads may write parts of the stream at reserved positions. */
    public boolean seekable() {
        return seekable;
    }

    /**
     * Reserves the next n bytes of the stream for the caller to write with writeAt(), possibly from another
     * thread; returns their position. Their CRC comes later, through fold(), in stream order.
     */
    public long reserve(long n) throws IOException {
        closeCrcRun();
        long at = written;
        written += n;
        try {
            ((FileChannel) out).position(written);
        } catch (IOException e) {
            throw new WriteFailed(e);
        }
        return at;
    }

    /** Writes b at pos of a reserved range (thread-safe: a positional write). */
    public void writeAt(ByteBuffer b, long pos) throws IOException {
        try {
            while (b.hasRemaining()) pos += ((FileChannel) out).write(b, pos);
        } catch (IOException e) {
            throw new WriteFailed(e);
        }
    }

    /** Writes b in stream order; what of it the TAIL checksum covers comes through fold() instead. */
    public void writeUnsummed(ByteBuffer b) throws IOException {
        closeCrcRun();
        written += b.remaining();
        drain(b);
    }

    /** Appends to the TAIL checksum the CRC32C, computed elsewhere, of the next len bytes it covers. */
    public void fold(int pieceCrc, long len) {
        closeCrcRun();
        folded = Crc32c.combine(folded, pieceCrc, len);
    }

    private void closeCrcRun() {
        if (crcLen == 0) return;
        folded = Crc32c.combine(folded, (int) crc.getValue(), crcLen);
        crc = new CRC32C();
        crcLen = 0;
    }

    public long written() {
        return written;
    }

    /** From now on every record that names tasks gets toImage(pid) for each host pid (a container's own pids). */
    public void pids(java.util.function.IntUnaryOperator toImage) {
        this.toImage = toImage;
    }

    public void write(ImageRecord r) throws IOException {
        if (toImage != null && r instanceof HoldsPids h) r = h.withPids(toImage);
        if (r instanceof PayloadRecord p) {
            writePayload(p);
            return;
        }
        Encoder e = new Encoder();
        r.encode(e);
        ByteBuffer body = e.finish();
        int len = body.remaining();
        emitHeader(r.type(), len, null);
        emit(body);
        pad(len);
    }

    /**
     * A record with bulk data: the data are copied once into a buffer of cryo's, so that their CRC (stored in
     * the header, see PayloadRecord) and the bytes written are of the same snapshot even if the memory they
     * come from is still being written (a SysV segment shared outside the tree); data already in a buffer of
     * cryo's own (PayloadRecord.stable) are written as they are.
     */
    private void writePayload(PayloadRecord p) throws IOException {
        long n = p.data().byteSize();
        long len = PayloadRecord.HEADER + n;
        if (len > Integer.MAX_VALUE) throw new IllegalArgumentException(p.type() + " record of " + len + " bytes");
        MemorySegment data = p.data();
        if (!p.stable()) {
            if (copy == null || copy.byteSize() < n) copy = java.lang.foreign.Arena.ofAuto().allocate(n, 4096);
            data = copy.asSlice(0, n);
            data.copyFrom(p.data());
        }
        Encoder e = new Encoder();
        p.encode(e);
        ByteBuffer fields = e.finish().order(ByteOrder.LITTLE_ENDIAN);
        fields.putInt(4, Crc32c.of(data));
        emitHeader(p.type(), (int) len, fields);
        closeCrcRun();
        written += n;
        ByteBuffer b = data.asByteBuffer();
        drain(b);
        // The record is padded to 8 like any other; the reader skips the padding with the data, outside the
        // TAIL checksum (GHOST_DATA and MEMFD_DATA may end anywhere).
        int pad = (int) ((8 - (len & 7)) & 7);
        if (pad > 0) {
            written += pad;
            drain(ByteBuffer.allocate(pad));
        }
    }

    /** Ends the stream with TAIL. */
    public void finish() throws IOException {
        long length = written;
        closeCrcRun();
        Encoder e = new Encoder();
        new Tail(length, folded).encode(e);
        ByteBuffer body = e.finish();
        header.clear();
        header.putInt(RecordType.TAIL.code).putInt(body.remaining()).put(body).flip();
        drain(header);
        written += 8 + 16;
    }

    private void emitHeader(RecordType type, int len, ByteBuffer extra) throws IOException {
        header.clear();
        header.putInt(type.code).putInt(len);
        if (extra != null) header.put(extra);
        header.flip();
        emit(header);
    }

    private void pad(int len) throws IOException {
        int pad = (8 - (len & 7)) & 7;
        if (pad > 0) emit(ByteBuffer.allocate(pad));
    }

    private void emit(ByteBuffer b) throws IOException {
        crcLen += b.remaining();
        crc.update(b.duplicate());
        written += b.remaining();
        drain(b);
    }

    private void drain(ByteBuffer b) throws WriteFailed {
        try {
            while (b.hasRemaining()) out.write(b);
        } catch (IOException e) {
            throw new WriteFailed(e);
        }
    }

    /** A write into the output failed (a full disk, a closed pipe): the caller names the destination. */
    public static final class WriteFailed extends IOException {
        WriteFailed(IOException cause) {
            super(cause.getMessage(), cause);
        }

        public IOException cause() {
            return (IOException) getCause();
        }
    }
}
