package cryo.image;

import com.code_intelligence.jazzer.junit.FuzzTest;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;

/**
 * The image reader and validator under Jazzer: bytes go through exactly what cryo restart runs before it
 * creates anything (Restart.validate; LockRelease.early before it) and must come out as an Image or an
 * ImageException with a one-line message; anything else (another exception, an error, a hang, an allocation
 * past the fuzzer's small heap) is a finding.
 *
 * An input is an image without its TAIL: the harness appends a TAIL whose length and CRC32C are right, so
 * that mutations reach the records instead of stopping at the checksum (ImageReaderTest covers a bad TAIL).
 *
 * In a plain test run (bin/test) Jazzer replays every input under ImageFuzzTestInputs/image/ in the test
 * resources: the seeds (real images, memory left out; bench/fuzz.sh --seeds makes them again) and every
 * finding, kept as a regression input. bench/fuzz.sh fuzzes it with the standalone driver (ImageFuzzer).
 */
class ImageFuzzTest {
    @FuzzTest
    void image(byte[] input) {
        check(input);
    }

    static void check(byte[] input) {
        MemorySegment image = MemorySegment.ofArray(withTail(input));
        cryo.netlock.LockRelease.early(image);
        try {
            cryo.restart.Restart.validate(image, ImageReader.Data.CHECK, Map.of(), false);
        } catch (ImageException e) {
            String m = e.getMessage();
            if (m == null || m.isBlank() || m.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
                throw new AssertionError("an ImageException without a one-line message: " + m, e);
            }
        }
    }

    /** input, then a TAIL: {u32 type, u32 16, u64 length of what precedes it, u32 CRC32C, u32 0}. */
    static byte[] withTail(byte[] input) {
        byte[] out = java.util.Arrays.copyOf(input, input.length + 24);
        ByteBuffer tail = ByteBuffer.wrap(out, input.length, 24).order(ByteOrder.LITTLE_ENDIAN);
        tail.putInt(RecordType.TAIL.code).putInt(16).putLong(input.length);
        tail.putInt(ImageReader.checksum(MemorySegment.ofArray(out), input.length)).putInt(0);
        return out;
    }
}
