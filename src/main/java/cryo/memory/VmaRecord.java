package cryo.memory;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;
import cryo.image.Tree;

/**
 * VMA: one mapping (the kernel series' ckpt_hdr_vma). file is the objref of its FILE record (0 for none);
 * shmem names a shared anonymous object (its inode) so that every task sharing it maps one object again,
 * or, for SYSV, the id of the SysV shared memory segment attached there;
 * advice holds the VM flags that restart re-applies with madvise.
 */
public record VmaRecord(int pid, long start, long end, int prot, int flags, long pgoff, Kind kind, int file,
                        long shmem, int advice) implements ImageRecord {
    public enum Kind {ANON, FILE, SHMEM, VVAR, VVAR_VCLOCK, VDSO, SYSV}

    public static final int PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
    public static final int MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_GROWSDOWN = 0x100;
    /** advice bits: smaps VmFlags dc, dd, hg, nh, mg, wf. */
    public static final int ADV_DONTFORK = 1, ADV_DONTDUMP = 2, ADV_HUGEPAGE = 4, ADV_NOHUGEPAGE = 8,
            ADV_MERGEABLE = 16, ADV_WIPEONFORK = 32;

    public long size() {
        return end - start;
    }

    public boolean shared() {
        return (flags & MAP_SHARED) != 0;
    }

    public boolean isVdso() {
        return kind == Kind.VVAR || kind == Kind.VVAR_VCLOCK || kind == Kind.VDSO;
    }

    public RecordType type() {
        return RecordType.VMA;
    }

    public void encode(Encoder e) {
        e.u32(pid).u32(kind.ordinal()).u64(start).u64(end).u32(prot).u32(flags).u64(pgoff).u32(file).u32(advice).u64(shmem);
    }

    public static VmaRecord decode(Decoder d) throws ImageException {
        int pid = d.u32("pid", 1, Tree.PID_MAX_LIMIT);
        Kind kind = Kind.values()[d.u32("kind", 0, Kind.values().length - 1)];
        long start = d.u64("start"), end = d.u64("end");
        if ((start & 4095) != 0 || (end & 4095) != 0) throw d.error("start", "range 0x" + Long.toHexString(start) + "-0x" + Long.toHexString(end) + " is not page aligned");
        if (start < 0 || end > Vmas.TASK_SIZE || start >= end) throw d.error("end", "range 0x" + Long.toHexString(start) + "-0x" + Long.toHexString(end) + " is empty or outside user space");
        int prot = d.u32("prot", 0, 7);
        int flags = d.u32("flags");
        if ((flags & ~(MAP_SHARED | MAP_PRIVATE | MAP_GROWSDOWN)) != 0 || Integer.bitCount(flags & 3) != 1) {
            throw d.error("flags", "0x" + Integer.toHexString(flags) + " is not MAP_SHARED or MAP_PRIVATE (with MAP_GROWSDOWN)");
        }
        long pgoff = d.u64("pgoff");
        int file = d.u32("file");
        if ((kind == Kind.FILE) != (file != 0)) throw d.error("file", "objref " + file + " does not fit a " + kind + " mapping");
        int advice = d.u32("advice", 0, 63);
        long shmem = d.u64("shmem");
        return new VmaRecord(pid, start, end, prot, flags, pgoff, kind, file, shmem, advice);
    }
}
