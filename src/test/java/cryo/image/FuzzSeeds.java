package cryo.image;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;

/**
 * Turns real images into fuzzer seeds (bench/fuzz.sh --seeds): the image without its TAIL, which the fuzz
 * harness appends (ImageFuzzTest.withTail), and without the records of each kind of bulk data (PAGES first:
 * memory is most of an image and only bytes to the reader) whose removal leaves an image Restart.validate
 * still accepts. Prints, per seed, its size and whether Restart.validate accepts it.
 *
 *   FuzzSeeds OUTDIR IMAGE...
 */
public final class FuzzSeeds {
    private FuzzSeeds() {
    }

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args[0]);
        Files.createDirectories(out);
        for (int i = 1; i < args.length; i++) {
            Path img = Path.of(args[i]);
            byte[] seed = seed(img);
            String name = img.getFileName().toString().replaceFirst("\\.img$", "");
            Files.write(out.resolve("seed-" + name), seed);
            String verdict;
            try {
                cryo.restart.Restart.validate(MemorySegment.ofArray(ImageFuzzTest.withTail(seed)), ImageReader.Data.CHECK, java.util.Map.of(), false);
                verdict = "valid";
            } catch (ImageException e) {
                verdict = "REJECTED: " + e.getMessage();
            }
            System.out.printf("seed-%s: %d bytes (image %d): %s%n", name, seed.length, Files.size(img), verdict);
        }
    }

    /** Bulk data, in the order the shrinking tries to drop it. */
    private static final RecordType[] BULK = {RecordType.PAGES, RecordType.PRECOPY_PAGES, RecordType.SHM_PAGES,
            RecordType.SHMEM_PAGES, RecordType.MEMFD_DATA, RecordType.GHOST_DATA, RecordType.TMPFS_DATA};

    static byte[] seed(Path img) throws IOException {
        byte[] seed = records(img);
        for (RecordType kind : BULK) {
            byte[] smaller = without(MemorySegment.ofArray(seed), kind);
            if (smaller.length < seed.length && valid(smaller)) seed = smaller;
        }
        return seed;
    }

    private static boolean valid(byte[] seed) {
        try {
            cryo.restart.Restart.validate(MemorySegment.ofArray(ImageFuzzTest.withTail(seed)), ImageReader.Data.CHECK, java.util.Map.of(), false);
            return true;
        } catch (ImageException e) {
            return false;
        }
    }

    /** The image at img, checked whole, without its TAIL. */
    private static byte[] records(Path img) throws IOException {
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(img, StandardOpenOption.READ)) {
            MemorySegment image = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            ImageReader.read(image);   // a real, whole image
            return image.asSlice(0, image.byteSize() - 24).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        } catch (ImageException e) {
            throw new IOException(img + ": " + e.getMessage(), e);
        }
    }

    /** The records of image (no TAIL) but those of kind. */
    private static byte[] without(MemorySegment image, RecordType kind) {
        long end = image.byteSize();
        ByteBuffer seed = ByteBuffer.allocate((int) end).order(ByteOrder.LITTLE_ENDIAN);
        seed.put(image.asSlice(0, Head.MAGIC.length).asByteBuffer());
        for (long pos = Head.MAGIC.length; pos < end; ) {
            int code = image.get(JAVA_INT_UNALIGNED, pos);
            long len = Integer.toUnsignedLong(image.get(JAVA_INT_UNALIGNED, pos + 4));
            long next = pos + 8 + ((len + 7) & ~7L);
            if (code != kind.code) seed.put(image.asSlice(pos, next - pos).asByteBuffer());
            pos = next;
        }
        return java.util.Arrays.copyOf(seed.array(), seed.position());
    }
}
