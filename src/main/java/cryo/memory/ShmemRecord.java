package cryo.memory;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;

/**
 * SHMEM: one shared anonymous memory object (MAP_SHARED|MAP_ANONYMOUS, "/dev/zero (deleted)" in maps),
 * {u32 id; u32 pad; u64 inode; u64 size}. id names it in its SHMEM_PAGES records; inode is what its VMAs name
 * in their shmem field; size is the object's own size, which may exceed what is mapped of it (a part
 * unmapped, mremap'ed away, or mapped again at an offset). Written once however many tasks and VMAs map it.
 */
public record ShmemRecord(int id, long inode, long size) implements ImageRecord {
    public RecordType type() {
        return RecordType.SHMEM;
    }

    public String name() {
        return "shared anonymous memory object " + inode;
    }

    public void encode(Encoder e) {
        e.u32(id).u32(0).u64(inode).u64(size);
    }

    public static ShmemRecord decode(Decoder d) throws ImageException {
        int id = d.u32("id", 1, Integer.MAX_VALUE);
        d.u32("pad", 0, 0);
        long inode = d.u64("inode");
        if (inode == 0) throw d.error("inode", "is 0");
        long size = d.u64("size");
        if (size <= 0 || size % Vmas.PAGE != 0 || size > Vmas.TASK_SIZE) throw d.error("size", size + " is not a whole number of pages within user space");
        return new ShmemRecord(id, inode, size);
    }
}
