package cryo.memory;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.PayloadRecord;
import cryo.image.RecordType;
import cryo.image.Tree;

import java.lang.foreign.MemorySegment;

/**
 * PAGES: the contents of a run of consecutive pages at addr in task pid, {u32 pid; u32 crc32c; u64 addr}
 * then the data. The data follow the header directly, so a reader of a mapped image can hand them to
 * process_vm_writev without copying. A piece of a pre-copied record (cryo.precopy) has that record as source:
 * crc is the source's, and verify() checks the source's data.
 */
public record PagesRecord(int pid, long addr, int crc, MemorySegment data, PayloadRecord source) implements PayloadRecord {
    public static final int PAGE = 4096;

    public PagesRecord(int pid, long addr, int crc, MemorySegment data) {
        this(pid, addr, crc, data, null);
    }

    /** The record whose CRC covers these data: this one, or the pre-copied record it is a piece of. */
    @Override
    public PayloadRecord checked() {
        return source == null ? this : source;
    }

    @Override
    public void verify() throws ImageException {
        if (source != null) source.verify();
        else PayloadRecord.super.verify();
    }

    public long pages() {
        return data.byteSize() / PAGE;
    }

    public RecordType type() {
        return RecordType.PAGES;
    }

    public String describe() {
        return "PAGES of task " + pid + " at " + Vmas.hex(addr);
    }

    public void encode(Encoder e) {
        e.u32(pid).u32(crc).u64(addr);
    }

    public static PagesRecord decode(Decoder d) throws ImageException {
        int pid = d.u32("pid", 1, Tree.PID_MAX_LIMIT);
        int crc = d.u32("crc32c");
        long addr = d.u64("addr");
        MemorySegment data = d.rest();
        checkRun(d, addr, data);
        return new PagesRecord(pid, addr, crc, data);
    }

    /** The checks of a run of page data at addr (PAGES, PRECOPY_PAGES): page aligned, whole pages, in user space. */
    public static void checkRun(Decoder d, long addr, MemorySegment data) throws ImageException {
        if ((addr & (PAGE - 1)) != 0) throw d.error("addr", "0x" + Long.toHexString(addr) + " is not page aligned");
        if (data.byteSize() == 0 || data.byteSize() % PAGE != 0) throw d.error("data", "is " + data.byteSize() + " bytes, not a whole number of pages");
        if (addr < 0 || addr > Vmas.TASK_SIZE - data.byteSize()) throw d.error("addr", "run 0x" + Long.toHexString(addr) + " ends outside user space");
    }
}
