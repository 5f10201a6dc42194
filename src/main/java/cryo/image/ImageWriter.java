package cryo.image;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.util.zip.CRC32C;

/**
 * Writes the image stream front to back, never seeking, so it can go to a pipe: the magic, then records
 * {u32 type; u32 len; body; pad to 8}, then TAIL with the length and CRC32C of everything before it.
 */
public final class ImageWriter {
    private final WritableByteChannel out;
    private final CRC32C crc = new CRC32C();
    private final ByteBuffer header = ByteBuffer.allocateDirect(64).order(ByteOrder.LITTLE_ENDIAN);
    private long written;

    public ImageWriter(WritableByteChannel out) throws IOException {
        this.out = out;
        emit(ByteBuffer.wrap(Head.MAGIC));
    }

    public long written() {
        return written;
    }

    public void write(ImageRecord r) throws IOException {
        if (r instanceof cryo.memory.PagesRecord p) {
            writePages(p.pid(), p.addr(), p.data());
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
        Encoder e = new Encoder();
        new Tail(length, (int) crc.getValue()).encode(e);
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
        crc.update(b.duplicate());
        written += b.remaining();
        while (b.hasRemaining()) out.write(b);
    }
}
