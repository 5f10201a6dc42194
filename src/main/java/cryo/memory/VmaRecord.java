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
 * vmFlags holds the smaps VmFlags that restart sets again (by madvise, mlock2, the mmap flags, the open mode of
 * the file mapped, or the order of mmap and mprotect).
 */
public record VmaRecord(int pid, long start, long end, int prot, int flags, long pgoff, Kind kind, int file,
                        long shmem, int vmFlags) implements ImageRecord, cryo.image.HoldsPids {
    public enum Kind {ANON, FILE, SHMEM, VVAR, VVAR_VCLOCK, VDSO, SYSV, MEMFD}

    public static final int PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
    public static final int MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_GROWSDOWN = 0x100;
    /**
     * vmFlags bits, by smaps VmFlags mnemonic (fs/proc/task_mmu.c show_smap_vma_flags()): dc, dd, hg, nh, mg, wf,
     * sr, rr, lo, lf, nr, ac (VM_ACCOUNT: the private mapping was writable once), mw (VM_MAYWRITE).
     */
    public static final int VM_DONTFORK = 1, VM_DONTDUMP = 2, VM_HUGEPAGE = 4, VM_NOHUGEPAGE = 8,
            VM_MERGEABLE = 16, VM_WIPEONFORK = 32, VM_SEQ_READ = 64, VM_RAND_READ = 128, VM_LOCKED = 256,
            VM_LOCKONFAULT = 512, VM_NORESERVE = 1024, VM_ACCOUNT = 2048, VM_MAYWRITE = 4096;
    /** The mnemonics of the bits above, in bit order. */
    public static final java.util.List<String> VM_FLAG_NAMES = java.util.List.of("dc", "dd", "hg", "nh", "mg", "wf", "sr", "rr",
            "lo", "lf", "nr", "ac", "mw");

    public static int vmFlags(java.util.List<String> mnemonics) {
        int f = 0;
        for (String m : mnemonics) {
            int i = VM_FLAG_NAMES.indexOf(m);
            if (i >= 0) f |= 1 << i;
        }
        return f;
    }

    public boolean has(int vmFlag) {
        return (vmFlags & vmFlag) != 0;
    }

    public long size() {
        return end - start;
    }

    public boolean shared() {
        return (flags & MAP_SHARED) != 0;
    }

    /**
     * True when a fork of a task with parent's VMA gives this very VMA, pages shared copy-on-write: same range,
     * protection, flags, object and offset, private, anonymous or file; the VmFlags may differ only in what
     * fork does not pass on (locks, mm/memory.c and mm/mlock.c) and what restart sets again after it.
     */
    public boolean inheritableFrom(VmaRecord parent) {
        int notInherited = VM_LOCKED | VM_LOCKONFAULT;
        return !shared() && (kind == Kind.ANON || kind == Kind.FILE) && parent.kind == kind && parent.start == start
                && parent.end == end && parent.prot == prot && parent.flags == flags && parent.pgoff == pgoff
                && parent.file == file && !parent.has(VM_DONTFORK) && !parent.has(VM_WIPEONFORK)
                && (parent.vmFlags & ~notInherited) == (vmFlags & ~notInherited);
    }

    public boolean isVdso() {
        return kind == Kind.VVAR || kind == Kind.VVAR_VCLOCK || kind == Kind.VDSO;
    }

    public VmaRecord withPids(java.util.function.IntUnaryOperator toImage) {
        return new VmaRecord(toImage.applyAsInt(pid), start, end, prot, flags, pgoff, kind, file, shmem, vmFlags);
    }

    public RecordType type() {
        return RecordType.VMA;
    }

    public void encode(Encoder e) {
        e.u32(pid).u32(kind.ordinal()).u64(start).u64(end).u32(prot).u32(flags).u64(pgoff).u32(file).u32(vmFlags).u64(shmem);
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
        if ((kind == Kind.FILE || kind == Kind.MEMFD) != (file != 0)) throw d.error("file", "objref " + file + " does not fit a " + kind + " mapping");
        int vmFlags = d.u32("vm_flags", 0, (1 << VM_FLAG_NAMES.size()) - 1);
        long shmem = d.u64("shmem");
        return new VmaRecord(pid, start, end, prot, flags, pgoff, kind, file, shmem, vmFlags);
    }
}
