package cryo.lazy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import cryo.memory.PagesRecord;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The pending ranges of a lazily served address space: taken, moved (mremap) and copied (fork) exactly. */
class SpaceTest {
    private static final long P = 4096;

    private static Space space(PagesRecord r) {
        Space s = new Space(-1, "test");
        s.add(new Space.Piece(r.addr(), r.addr() + r.data().byteSize(), r, 0));
        return s;
    }

    private static PagesRecord record(long addr, long pages) {
        return new PagesRecord(1, addr, 0, MemorySegment.ofArray(new byte[(int) (pages * P)]));
    }

    @Test
    void takeSplitsAPieceAndKeepsOffsets() {
        PagesRecord r = record(0x10000, 8);
        Space s = space(r);
        List<Space.Piece> got = s.take(0x10000 + 2 * P, 0x10000 + 4 * P);
        assertEquals(List.of(new Space.Piece(0x10000 + 2 * P, 0x10000 + 4 * P, r, 2 * P)), got);
        assertEquals(6 * P, s.pendingBytes());
        assertNull(s.at(0x10000 + 3 * P));
        assertEquals(new Space.Piece(0x10000 + 4 * P, 0x10000 + 8 * P, r, 4 * P), s.at(0x10000 + 5 * P));
        assertEquals(new Space.Piece(0x10000, 0x10000 + 2 * P, r, 0), s.first());
    }

    @Test
    void moveShiftsWhatIsPendingAndKeepsTheImageData() {
        PagesRecord r = record(0x10000, 4);
        Space s = space(r);
        s.take(0x10000, 0x10000 + P);
        s.move(0x10000, 0x80000, 4 * P);
        assertNull(s.at(0x10000 + P));
        Space.Piece p = s.at(0x80000 + P);
        assertEquals(new Space.Piece(0x80000 + P, 0x80000 + 4 * P, r, P), p);
        assertSame(r, p.record());
    }

    @Test
    void aForkedSpaceFillsOnItsOwn() {
        PagesRecord r = record(0x10000, 4);
        Space parent = space(r);
        parent.take(0x10000, 0x10000 + P);
        Space child = parent.forked(-2);
        parent.take(0x10000, 0x10000 + 4 * P);
        assertEquals(0, parent.pendingBytes());
        assertEquals(3 * P, child.pendingBytes(), "the child still waits for what was pending at the fork");
    }
}
