package cryo.files;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.PayloadRecord;
import cryo.sys.FileIo;
import cryo.sys.SysException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * The contents of a file that has no name to reopen it by (a deleted file, an O_TMPFILE file, a memfd):
 * only its data extents, found with SEEK_DATA/SEEK_HOLE (lseek(2)), so a sparse file costs what it holds;
 * read in large off-heap batches, never whole, and written back at the same offsets.
 */
public final class FileData {
    /** Bytes read per batch: one payload record each. */
    public static final long BATCH = 16L << 20;

    private FileData() {
    }

    /** A run of data [offset, offset + length). */
    public record Extent(long offset, long length) {
        public long end() {
            return offset + length;
        }
    }

    /** The data extents of fd below size, in order. */
    public static List<Extent> extents(int fd, long size, String what) throws SysException {
        List<Extent> out = new ArrayList<>();
        long at = 0;
        while (at < size) {
            long data = FileIo.seekData(fd, at, what);
            if (data < 0 || data >= size) break;
            long hole = Math.min(FileIo.seekHole(fd, data, what), size);
            out.add(new Extent(data, hole - data));
            at = hole;
        }
        return out;
    }

    /** A payload record of a file's data at a byte offset: GHOST_DATA, MEMFD_DATA, TMPFS_DATA. */
    public sealed interface Chunk extends PayloadRecord permits GhostDataRecord, MemfdDataRecord, cryo.mounts.TmpfsDataRecord {
        long offset();

        default long end() {
            return offset() + data().byteSize();
        }

        /** Written from FileData's own read buffer, which nothing else writes. */
        @Override
        default boolean stable() {
            return true;
        }

        /** The fields every chunk has: {u32 owner; u32 crc32c; u64 offset} then the data. */
        record Fields(int owner, int crc, long offset, MemorySegment data) {
        }

        /** Reads and checks a chunk's fields; ownerField names the objref of the file it belongs to. */
        static Fields read(Decoder d, String ownerField) throws ImageException {
            int owner = d.u32(ownerField, 1, Integer.MAX_VALUE);
            int crc = d.u32("crc32c");
            long offset = d.u64("offset");
            MemorySegment data = d.rest();
            if (offset < 0) throw d.error("offset", "is negative");
            if (data.byteSize() == 0) throw d.error("data", "is empty");
            return new Fields(owner, crc, offset, data);
        }

        static void write(Encoder e, int owner, int crc, long offset) {
            e.u32(owner).u32(crc).u64(offset);
        }
    }

    /**
     * Checks chunk d of a file against the chunks of that file before it (in order, not overlapping) and the
     * file's size, then adds it to them. file names the file in errors, name the record.
     */
    public static <T extends Chunk> void checkNext(List<T> before, T d, long size, String file, String name) throws ImageException {
        if (!before.isEmpty() && before.getLast().end() > d.offset()) {
            throw new ImageException("record " + name + ": field 'offset' " + d.offset() + " overlaps or precedes the data before it (which end at " + before.getLast().end() + ")");
        }
        if (d.end() > size || d.end() < 0) throw new ImageException("record " + name + ": data at offset " + d.offset() + " run past the end of " + file + " (" + size + " bytes)");
        before.add(d);
    }

    /** Bytes of data the chunks hold. */
    public static long dataBytes(List<? extends Chunk> chunks) {
        long n = 0;
        for (Chunk c : chunks) n += c.data().byteSize();
        return n;
    }

    /** Checks the CRC32C of a chunk before it is used (DataCheck.verify, or PayloadRecord.verify). */
    public interface Verifier {
        void verify(PayloadRecord p) throws ImageException;
    }

    /** Writes every chunk into fd at its offset, each checked by verifier first. */
    public static void write(int fd, List<? extends Chunk> chunks, String what, Verifier verifier) throws SysException, ImageException {
        for (Chunk c : chunks) {
            verifier.verify(c);
            FileIo.pwriteFully(fd, c.data(), c.offset(), what);
        }
    }

    public static long bytes(List<Extent> extents) {
        long n = 0;
        for (Extent e : extents) n += e.length();
        return n;
    }

    /** Receives one batch of a file's data: valid only during the call. */
    public interface Sink {
        void accept(long offset, MemorySegment data) throws IOException;
    }

    /** Reads the extents of fd in batches of at most BATCH bytes (one off-heap buffer), each handed to sink. */
    public static void read(int fd, List<Extent> extents, String what, Sink sink) throws SysException, IOException {
        long biggest = 0;
        for (Extent e : extents) biggest = Math.max(biggest, Math.min(e.length(), BATCH));
        if (biggest == 0) return;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(biggest, 4096);
            for (Extent e : extents) {
                for (long off = e.offset(); off < e.end(); off += BATCH) {
                    MemorySegment chunk = buf.asSlice(0, Math.min(BATCH, e.end() - off));
                    FileIo.preadFully(fd, chunk, off, what);
                    sink.accept(off, chunk);
                }
            }
        }
    }
}
