package cryo.image;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Lengths and counts an image claims are checked against what is left of the record or the image before
 * anything is allocated for them (the fuzzer, ImageFuzzTest, runs with a 256 MiB heap; these are the
 * explicit cases): each claim below would allocate from 64 MiB to 4 GiB if believed.
 */
class ImageLengthsTest {
    private static ByteBuffer body(int capacity) {
        return ByteBuffer.allocate(capacity).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static String decodeFails(RecordType type, ByteBuffer b) {
        MemorySegment body = MemorySegment.ofArray(java.util.Arrays.copyOf(b.array(), b.position()));
        return assertThrows(ImageException.class, () -> {
            Decoder d = new Decoder(body, type, 0);
            type.decoder.decode(d);
            d.end();
        }).getMessage();
    }

    @Test
    void aRecordClaiming4GiBIsRefusedByTheImageItIsIn() {
        ByteBuffer b = body(64);
        b.put(Head.MAGIC).putInt(RecordType.PIPE.code).putInt(-1).putLong(0);
        byte[] image = ImageFuzzTest.withTail(java.util.Arrays.copyOf(b.array(), b.position()));
        String m = assertThrows(ImageException.class, () -> ImageReader.read(MemorySegment.ofArray(image))).getMessage();
        assertEquals("record PIPE at offset 8: length 4294967295 runs past the end of the image", m);
    }

    @Test
    void aFieldClaiming2GiBIsRefused() {
        ByteBuffer b = body(64);
        b.putInt(7).putInt(65536).putLong(1234).putInt(Integer.MAX_VALUE);   // PIPE objref, capacity, inode, data.length
        assertEquals("record PIPE #0: field 'data' has length 2147483647 (at most 1073741824)", decodeFails(RecordType.PIPE, b));
        b = body(64);
        b.putInt(7).putInt(65536).putLong(1234).putInt(1 << 30);            // 1 GiB: within the limit, past the record
        assertEquals("record PIPE #0: field 'data' runs past the end of the record", decodeFails(RecordType.PIPE, b));
    }

    @Test
    void countsBeyondTheRecordAreRefusedBeforeTheirEntriesAreMade() {
        ByteBuffer b = body(256);
        b.putInt(0).putInt(3).putInt(0x1234).putInt(0).putInt(0).putInt(0).putInt(0).putInt(0600).putLong(0);   // IPC MSG 3
        b.putInt(4).putLong(0).putLong(0).putLong(0).putLong(0).putInt(0);                                       // times, no pids
        b.putInt(1 << 24);                                                                                       // 16 Mi messages
        String m = decodeFails(RecordType.IPC, b);
        assertTrue(m.startsWith("record IPC #0: field 'messages.count' is 16777216, more entries than the 0 bytes left"), m);

        b = body(16);
        b.putInt(32768);                                                                                         // TREE of 32768
        m = decodeFails(RecordType.TREE, b);
        assertTrue(m.startsWith("record TREE #0: field 'count' is 32768, more entries than the 0 bytes left"), m);
    }

    @Test
    void pagesAtTheTopOfTheAddressSpaceDoNotWrapAround() {
        ByteBuffer b = body(32 + 4096);
        b.putInt(1).putInt(0).putLong(0x7ffffffffffff000L).put(new byte[4096]);   // pid, crc, addr, one page
        b.position(0).putInt(1).putInt(Crc32c.of(MemorySegment.ofArray(new byte[4096]))).position(16 + 4096);
        String m = decodeFails(RecordType.PAGES, b);
        assertEquals("record PAGES #0: field 'addr' run 0x7ffffffffffff000 ends outside user space", m);
        assertFalse(SortedVmas.covered(java.util.List.of(), 0x7ffffffffffff000L, Long.MIN_VALUE));
    }

    @Test
    void aStringOfTheImageKeepsTheMessageOnOneLine() {
        assertEquals("record FILE #1: field 'path' 'a\\nb\\x1b[2J' is not absolute",
                new ImageException("record FILE #1: field 'path' 'a\nb\u001b[2J' is not absolute").getMessage());
    }
}
