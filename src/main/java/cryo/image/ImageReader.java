package cryo.image;

import cryo.sys.Fd;
import cryo.sys.SysException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * Reads a whole image and checks it before anything is restored: magic, TAIL length and CRC32C, then every
 * record field by field, then (Data.CHECK) the CRC of each PayloadRecord's data — or leaves that to the
 * restart, which checks each record's data as it copies them. The image is mapped, not copied: page data
 * stays in the mapping and goes to the restored task from there. A stream on stdin is first spooled into
 * a memfd.
 */
public final class ImageReader {
    private static final int TAIL_BYTES = 8 + 16;

    private ImageReader() {
    }

    /** Maps the image at path ("-" for stdin, staged in memory) for the life of arena. */
    public static MemorySegment map(String path, Arena arena) throws ImageException, IOException, SysException {
        return map(path, arena, null);
    }

    /** map(), an image on stdin staged in an unlinked file in directory stage (null: in a memfd). */
    public static MemorySegment map(String path, Arena arena, Path stage) throws ImageException, IOException, SysException {
        return map(path, arena, stage, DEFAULT_INPUT_TIMEOUT);
    }

    /** How long, in seconds, a stream (stdin, a FIFO) may bring no byte of the image (--input-timeout). */
    public static final long DEFAULT_INPUT_TIMEOUT = 30;

    /**
     * map(), an image on stdin or in a FIFO read as a stream (staged in stage or a memfd) that fails once no
     * byte has come for stallSeconds.
     */
    public static MemorySegment map(String path, Arena arena, Path stage, long stallSeconds) throws ImageException, IOException, SysException {
        if (path.equals("-")) return spool(StreamInput.stdin(stallSeconds * 1000), arena, stage);
        Path p = Path.of(path);
        if (Files.exists(p) && isFifo(p)) return spool(StreamInput.fifo(path, stallSeconds * 1000), arena, stage);
        if (!Files.isRegularFile(p)) {
            if (!Files.exists(p)) throw new ImageException("image " + path + ": no such file");
            throw new ImageException("image " + path + ": not a regular file (nor a FIFO)");
        }
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            long size = ch.size();
            return size == 0 ? MemorySegment.NULL : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (NoSuchFileException e) {
            throw new ImageException("image " + path + ": no such file");
        }
    }

    /**
     * Copies the image on stdin (or from a FIFO) as it arrives into a memfd, or an unlinked file in directory stage (a stream
     * larger than memory: a pre-copy's rounds come long before its end), reading record by record exactly up
     * to the end of TAIL: what follows on stdin is left for the restored program, whose fd 0 is cryo's.
     */
    private static MemorySegment spool(StreamInput in, Arena arena, Path stage) throws ImageException, IOException, SysException {
        try (in; FileChannel spool = stagingFile(stage)) {
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            ByteBuffer header = ByteBuffer.allocateDirect(8).order(ByteOrder.LITTLE_ENDIAN);
            long pos = copy(in, spool, buf, 0, Head.MAGIC.length, null, 0, 0);
            List<Long> checked = new ArrayList<>();
            while (true) {
                header.clear();
                while (header.hasRemaining() && in.read(header) >= 0) {
                    // a pipe may hand over the 8 bytes in pieces
                }
                header.flip();
                while (header.hasRemaining()) spool.write(header, pos + header.position());
                if (header.limit() < 8) {
                    pos += header.limit();
                    break;
                }
                int type = header.getInt(0);
                long len = Integer.toUnsignedLong(header.getInt(4));
                long body = type == RecordType.TAIL.code ? 16 : (len + 7) & ~7L;
                // Pre-copied pages arrive long before the end: their CRCs are checked as they come, not after.
                CRC32C crc = type == RecordType.PRECOPY_PAGES.code && len > PayloadRecord.HEADER ? new CRC32C() : null;
                long n = copy(in, spool, buf, pos + 8, body, crc, PayloadRecord.HEADER, len);
                if (crc != null && n == body && (int) crc.getValue() == intAt(spool, pos + 8 + 4)) checked.add(pos + 8 + PayloadRecord.HEADER);
                pos += 8 + n;
                if (n < body || type == RecordType.TAIL.code) break;
            }
            if (pos == 0) return MemorySegment.NULL;
            MemorySegment image = spool.map(FileChannel.MapMode.READ_ONLY, 0, pos, arena);
            for (long off : checked) CHECKED_WHILE_STAGED.add(image.address() + off);
            return image;
        } catch (StreamInput.Stalled e) {
            throw new ImageException(e.getMessage());
        }
    }

    private static boolean isFifo(Path p) throws IOException {
        return ((Integer) Files.getAttribute(p, "unix:mode") & 0170000) == 0010000;
    }

    /** Addresses (in the mapped stream) of payload data whose CRC spool checked as they arrived. */
    private static final java.util.Set<Long> CHECKED_WHILE_STAGED = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** True when these data, of a payload record of the image read from stdin, matched their CRC as they came. */
    public static boolean checkedWhileStaged(MemorySegment data) {
        return CHECKED_WHILE_STAGED.contains(data.address());
    }

    private static int intAt(FileChannel ch, long pos) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining() && ch.read(b, pos + b.position()) > 0) {
            // a short read of a regular file: go on
        }
        return b.getInt(0);
    }

    /** A file for the stream that no name leads to: a memfd, or a file in stage unlinked once open. */
    private static FileChannel stagingFile(Path stage) throws IOException, SysException {
        if (stage == null) {
            int memfd = Fd.memfd("cryo-image");
            try {
                return FileChannel.open(Path.of("/proc/self/fd/" + memfd), StandardOpenOption.READ, StandardOpenOption.WRITE);
            } finally {
                Fd.close(memfd);
            }
        }
        Path f = Files.createTempFile(stage, ".cryo-stage-", "",
                java.nio.file.attribute.PosixFilePermissions.asFileAttribute(java.nio.file.attribute.PosixFilePermissions.fromString("rw-------")));
        try {
            return FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } finally {
            Files.delete(f);
        }
    }

    /**
     * Copies up to n bytes from in to out at pos; returns how many came before end of input. crc (if not null)
     * gets the bytes [from, to) of those n.
     */
    private static long copy(ReadableByteChannel in, FileChannel out, ByteBuffer buf, long pos, long n, CRC32C crc, long from, long to) throws IOException {
        long done = 0;
        while (done < n) {
            buf.clear().limit((int) Math.min(buf.capacity(), n - done));
            int r = in.read(buf);
            if (r < 0) break;
            buf.flip();
            long lo = Math.max(from, done), hi = Math.min(to, done + r);
            if (crc != null && lo < hi) crc.update(buf.duplicate().position((int) (lo - done)).limit((int) (hi - done)));
            while (buf.hasRemaining()) out.write(buf, pos + done + buf.position());
            done += r;
        }
        return done;
    }

    /** When the data of PayloadRecords are checked against their CRCs. */
    public enum Data {
        /** all of them, before read() returns */
        CHECK,
        /** by the user of each record, before it uses the data (PayloadRecord.verify): the restart does */
        LATER
    }

    /** read(image, Data.CHECK). */
    public static List<ImageRecord> read(MemorySegment image) throws ImageException {
        return read(image, Data.CHECK);
    }

    /** Checks magic and TAIL (length and CRC32C), then decodes every record in order. */
    public static List<ImageRecord> read(MemorySegment image, Data data) throws ImageException {
        long size = image.byteSize();
        if (size == 0) throw new ImageException("the image is empty (0 bytes)");
        if (size < Head.MAGIC.length || image.asSlice(0, Head.MAGIC.length).mismatch(MemorySegment.ofArray(Head.MAGIC)) != -1) {
            throw new ImageException("not a cryo image: bad magic (expected CRYOIMG1)");
        }
        if (size < Head.MAGIC.length + TAIL_BYTES || image.get(JAVA_INT_UNALIGNED, size - TAIL_BYTES) != RecordType.TAIL.code
                || image.get(JAVA_INT_UNALIGNED, size - TAIL_BYTES + 4) != 16) {
            throw new ImageException("image is truncated: it does not end with a TAIL record (" + size + " bytes)");
        }
        long length = image.get(JAVA_LONG_UNALIGNED, size - 16);
        int expected = image.get(JAVA_INT_UNALIGNED, size - 8);
        if (length != size - TAIL_BYTES) {
            throw new ImageException("record TAIL: field 'length' says " + length + " bytes precede it, the image has " + (size - TAIL_BYTES));
        }
        int actual = checksum(image, length);
        if (actual != expected) {
            throw new ImageException("image is corrupted: CRC32C is 0x" + Integer.toHexString(actual) + ", TAIL says 0x" + Integer.toHexString(expected));
        }
        List<ImageRecord> records = new ArrayList<>();
        int[] counts = new int[128];
        long pos = Head.MAGIC.length;
        while (pos < length) {
            if (length - pos < 8) throw new ImageException("record header at offset " + pos + " is truncated");
            int code = image.get(JAVA_INT_UNALIGNED, pos);
            long len = Integer.toUnsignedLong(image.get(JAVA_INT_UNALIGNED, pos + 4));
            RecordType type = RecordType.of(code);
            if (type == null || type == RecordType.TAIL) throw new ImageException("record at offset " + pos + ": unknown type " + code);
            if (pos + 8 + len > length) throw new ImageException("record " + type + " at offset " + pos + ": length " + len + " runs past the end of the image");
            Decoder d = new Decoder(image.asSlice(pos + 8, len), type, counts[type.code]++);
            ImageRecord r = type.decoder.decode(d);
            d.end();
            records.add(r);
            pos += 8 + ((len + 7) & ~7L);
        }
        if (data == Data.CHECK) verifyData(records);
        return records;
    }

    /**
     * The CRC32C that TAIL holds for the first `length` bytes of an image: every byte but the data of
     * PayloadRecords (their 8-byte record header and 16-byte field header are covered, the data after not).
     */
    public static int checksum(MemorySegment image, long length) {
        CRC32C crc = new CRC32C();
        long from = 0, pos = Head.MAGIC.length;
        while (pos + 8 <= length) {
            int code = image.get(JAVA_INT_UNALIGNED, pos);
            long len = Integer.toUnsignedLong(image.get(JAVA_INT_UNALIGNED, pos + 4));
            long next = pos + 8 + ((len + 7) & ~7L);
            if (PayloadRecord.is(code) && len >= PayloadRecord.HEADER && next <= length) {
                crc.update(image.asSlice(from, pos + 8 + PayloadRecord.HEADER - from).asByteBuffer());
                from = next;
            }
            if (next <= pos) break;
            pos = next;
        }
        crc.update(image.asSlice(from, length - from).asByteBuffer());
        return (int) crc.getValue();
    }

    /** Checks the data of every PayloadRecord against its CRC, on several threads. */
    private static void verifyData(List<ImageRecord> records) throws ImageException {
        List<PayloadRecord> payloads = new ArrayList<>();
        long bytes = 0;
        for (ImageRecord r : records) {
            if (r instanceof PayloadRecord p) {
                payloads.add(p);
                bytes += p.data().byteSize();
            }
        }
        int threads = Math.min(Runtime.getRuntime().availableProcessors(), (int) (bytes >> 24) + 1);
        if (threads <= 1) {
            for (PayloadRecord p : payloads) p.verify();
            return;
        }
        try (var pool = java.util.concurrent.Executors.newFixedThreadPool(threads, Thread.ofPlatform().name("cryo-crc").daemon().factory())) {
            List<java.util.concurrent.Future<?>> checks = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int first = t;
                checks.add(pool.submit(() -> {
                    for (int i = first; i < payloads.size(); i += threads) payloads.get(i).verify();
                    return null;
                }));
            }
            for (var f : checks) f.get();
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof ImageException ie) throw ie;
            throw new ImageException("image checksum: " + e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ImageException("image checksum: interrupted");
        }
    }
}
