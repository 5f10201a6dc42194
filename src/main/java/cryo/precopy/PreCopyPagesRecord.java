package cryo.precopy;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.PayloadRecord;
import cryo.image.RecordType;
import cryo.image.Tree;

import java.lang.foreign.MemorySegment;

/**
 * PRECOPY_PAGES: a run of pages of task pid copied while the tree ran, laid out as PAGES ({u32 pid; u32
 * crc32c; u64 addr} then the data). pid is the task's pid on the checkpointing host: PRECOPY_VALID links it to
 * the process of the TREE. Which of these pages are still good is decided by the final state.
 */
public record PreCopyPagesRecord(int pid, long addr, int crc, MemorySegment data, boolean stable) implements PayloadRecord {

    public RecordType type() {
        return RecordType.PRECOPY_PAGES;
    }

    public String describe() {
        return "PRECOPY_PAGES of task " + pid + " at 0x" + Long.toHexString(addr);
    }

    public void encode(Encoder e) {
        e.u32(pid).u32(crc).u64(addr);
    }

    /** Skips the check when the data were checked as the stream arrived (restart -). */
    @Override
    public void verify() throws ImageException {
        if (!cryo.image.ImageReader.checkedWhileStaged(data)) PayloadRecord.super.verify();
    }

    public static PreCopyPagesRecord decode(Decoder d) throws ImageException {
        int pid = d.u32("pid", 1, Tree.PID_MAX_LIMIT);
        int crc = d.u32("crc32c");
        long addr = d.u64("addr");
        MemorySegment data = d.rest();
        cryo.memory.PagesRecord.checkRun(d, addr, data);
        return new PreCopyPagesRecord(pid, addr, crc, data, false);
    }
}
