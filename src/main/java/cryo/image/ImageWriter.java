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
 * {u32 type; u32 len; body; pad to 8}, then TAIL with the length and CRC32C of everything before it.
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
        ((FileChannel) out).position(written);
        return at;
    }

    /** Writes b at pos of a reserved range (thread-safe: a positional write). */
    public void writeAt(ByteBuffer b, long pos) throws IOException {
        while (b.hasRemaining()) pos += ((FileChannel) out).write(b, pos);
    }

    /** Writes b in stream order, its CRC given by fold() instead of computed here. */
    public void writeUnsummed(ByteBuffer b) throws IOException {
        closeCrcRun();
        written += b.remaining();
        while (b.hasRemaining()) out.write(b);
    }

    /** Appends the CRC32C of the next len bytes of the stream, computed elsewhere. */
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

    public void write(ImageRecord r) throws IOException {
        if (r instanceof cryo.memory.PagesRecord p) {
            writePages(p.pid(), p.addr(), p.data());
            return;
        }
        if (r instanceof cryo.ipc.ShmPagesRecord p) {
            Encoder e = new Encoder();
            p.encode(e);
            emitHeader(RecordType.SHM_PAGES, (int) (16 + p.data().byteSize()), e.finish());
            emit(p.data().asByteBuffer());
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

    /** A PAGES record whose data is streamed from native memory (a process_vm_readv buffer). */
    public void writePages(int pid, long addr, MemorySegment data) throws IOException {
        long len = cryo.memory.PagesRecord.HEADER + data.byteSize();
        if (len > Integer.MAX_VALUE) throw new IllegalArgumentException("PAGES record of " + len + " bytes");
        Encoder e = new Encoder();
        new cryo.memory.PagesRecord(pid, addr, data).encode(e);
        emitHeader(RecordType.PAGES, (int) len, e.finish());
        emit(data.asByteBuffer());
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
        while (header.hasRemaining()) out.write(header);
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
        while (b.hasRemaining()) out.write(b);
    }
}
