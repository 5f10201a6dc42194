package cryo.image;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** Little-endian field encoder for one record's body. */
public final class Encoder {
    private ByteBuffer buf = ByteBuffer.allocate(256).order(ByteOrder.LITTLE_ENDIAN);

    private void need(int n) {
        if (buf.remaining() < n) {
            ByteBuffer b = ByteBuffer.allocate(Math.max(buf.capacity() * 2, buf.position() + n)).order(ByteOrder.LITTLE_ENDIAN);
            buf.flip();
            b.put(buf);
            buf = b;
        }
    }

    public Encoder u32(int v) {
        need(4);
        buf.putInt(v);
        return this;
    }

    public Encoder u64(long v) {
        need(8);
        buf.putLong(v);
        return this;
    }

    public Encoder bytes(byte[] b) {
        u32(b.length);
        need(b.length);
        buf.put(b);
        return this;
    }

    public Encoder str(String s) {
        return bytes(s.getBytes(StandardCharsets.UTF_8));
    }

    public Encoder longs(long[] v) {
        u32(v.length);
        for (long x : v) u64(x);
        return this;
    }

    public Encoder blobs(List<byte[]> list) {
        u32(list.size());
        for (byte[] b : list) bytes(b);
        return this;
    }

    public ByteBuffer finish() {
        return buf.flip();
    }
}
