package cryo.ipc;

import cryo.image.Head;
import cryo.image.ImageReader;
import cryo.image.RecordType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Byte-level changes to an image that cryo's own encoder cannot express (IpcRecord holds semaphore values as
 * Java shorts, so it writes no value between 32768 and 65535), then sealed again: a new TAIL with the length of
 * everything before it and its checksum (ImageReader.checksum), as ImageWriter writes it (magic, records
 * {u32 type; u32 len; body padded to 8}, TAIL {u32 99; u32 16; u64 length; u32 crc32c; u32 0}).
 */
final class ImagePatch {
    private ImagePatch() {}

    /** Copies in to out with value {@code index} of semaphore set {@code semId}'s IPC record set to {@code value}. */
    static void semValue(Path in, Path out, int semId, int index, int value) {
        try {
            ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(in)).order(ByteOrder.LITTLE_ENDIAN);
            int pos = Head.MAGIC.length;
            boolean found = false;
            while (true) {
                int type = b.getInt(pos), len = b.getInt(pos + 4), body = pos + 8;
                if (type == RecordType.TAIL.code) break;
                if (type == RecordType.IPC.code && b.getInt(body) == IpcRecord.Kind.SEM.ordinal() && b.getInt(body + 4) == semId) {
                    // kind id key uid gid cuid cgid mode (8 x u32), size (u64), times, pids, messages, values
                    int o = body + 40;
                    o += 4 + 8 * b.getInt(o);
                    o += 4 + 4 * b.getInt(o);
                    if (b.getInt(o) != 0) throw new AssertionError("a SEM record with messages");
                    o += 4;
                    int n = b.getInt(o);
                    if (index >= n) throw new AssertionError("semaphore set " + semId + " has " + n + " values");
                    b.putInt(o + 4 + 4 * index, value);
                    found = true;
                }
                pos = body + ((len + 7) & ~7);
            }
            if (!found) throw new AssertionError("no IPC record of semaphore set " + semId + " in " + in);
            b.putLong(pos + 8, pos);
            b.putInt(pos + 16, ImageReader.checksum(java.lang.foreign.MemorySegment.ofArray(b.array()), pos));
            Files.write(out, b.array());
        } catch (IOException e) {
            throw new AssertionError("cannot patch " + in + ": " + e, e);
        }
    }
}
