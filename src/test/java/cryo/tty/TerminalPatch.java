package cryo.tty;

import cryo.image.Head;
import cryo.image.ImageReader;
import cryo.image.RecordType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A TERMINAL record changed at byte level, the image sealed again (a TAIL with the length and checksum of
 * what is before it, as ImageWriter writes it; see cryo.ipc.ImagePatch).
 */
final class TerminalPatch {
    private TerminalPatch() {
    }

    /** Copies in to out with bits ORed into the TERMINAL record's termios c_lflag (path, flags, iflag, oflag, cflag, lflag). */
    static void lflag(Path in, Path out, int bits) {
        try {
            ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(in)).order(ByteOrder.LITTLE_ENDIAN);
            int pos = Head.MAGIC.length;
            boolean found = false;
            while (true) {
                int type = b.getInt(pos), len = b.getInt(pos + 4), body = pos + 8;
                if (type == RecordType.TAIL.code) break;
                if (type == RecordType.TERMINAL.code) {
                    int o = body + 4 + b.getInt(body) + 4 + 12;
                    b.putInt(o, b.getInt(o) | bits);
                    found = true;
                }
                pos = body + ((len + 7) & ~7);
            }
            if (!found) throw new AssertionError("no TERMINAL record in " + in);
            b.putLong(pos + 8, pos);
            b.putInt(pos + 16, ImageReader.checksum(java.lang.foreign.MemorySegment.ofArray(b.array()), pos));
            Files.write(out, b.array());
        } catch (IOException e) {
            throw new AssertionError("cannot patch " + in + ": " + e, e);
        }
    }
}
