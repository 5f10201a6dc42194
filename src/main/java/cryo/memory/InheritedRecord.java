package cryo.memory;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;
import cryo.image.Tree;

/**
 * INHERITED: a run of pages of task pid that it still shares copy-on-write with its parent (the same
 * physical pages at the same addresses), {u32 pid; u32 pad; u64 addr; u64 len}. Their contents are in the
 * parent's image; restart forks the task from its restored parent, so it gets these very pages shared again.
 */
public record InheritedRecord(int pid, long addr, long len) implements ImageRecord, cryo.image.HoldsPids {
    public InheritedRecord withPids(java.util.function.IntUnaryOperator toImage) {
        return new InheritedRecord(toImage.applyAsInt(pid), addr, len);
    }

    public RecordType type() {
        return RecordType.INHERITED;
    }

    public void encode(Encoder e) {
        e.u32(pid).u32(0).u64(addr).u64(len);
    }

    public static InheritedRecord decode(Decoder d) throws ImageException {
        int pid = d.u32("pid", 1, Tree.PID_MAX_LIMIT);
        d.u32("pad", 0, 0);
        long addr = d.u64("addr"), len = d.u64("len");
        if (addr < 0 || addr % Vmas.PAGE != 0) throw d.error("addr", Vmas.hex(addr) + " is not page aligned");
        if (len <= 0 || len % Vmas.PAGE != 0 || addr + len > Vmas.TASK_SIZE || addr + len < addr) throw d.error("len", len + " is not whole pages inside user space");
        return new InheritedRecord(pid, addr, len);
    }
}
