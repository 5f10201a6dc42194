package cryo.memory;

import cryo.remote.Tracee;
import cryo.sys.Nr;
import cryo.sys.SysException;

/**
 * The VmFlags of a restored VMA that madvise(2) and mlock2(2) set, applied once its pages are in: dc, dd,
 * hg, nh, mg, wf, sr, rr, then lo (and lf) last, since locking faults the pages in.
 */
final class VmFlagsRestore {
    private static final int MADV_RANDOM = 1, MADV_SEQUENTIAL = 2, MADV_DONTFORK = 10, MADV_MERGEABLE = 12,
            MADV_HUGEPAGE = 14, MADV_NOHUGEPAGE = 15, MADV_DONTDUMP = 16, MADV_WIPEONFORK = 18;
    private static final int MLOCK_ONFAULT = 1;
    private static final int[][] ADVICE = {{VmaRecord.VM_DONTFORK, MADV_DONTFORK}, {VmaRecord.VM_DONTDUMP, MADV_DONTDUMP},
            {VmaRecord.VM_HUGEPAGE, MADV_HUGEPAGE}, {VmaRecord.VM_NOHUGEPAGE, MADV_NOHUGEPAGE},
            {VmaRecord.VM_MERGEABLE, MADV_MERGEABLE}, {VmaRecord.VM_WIPEONFORK, MADV_WIPEONFORK},
            {VmaRecord.VM_SEQ_READ, MADV_SEQUENTIAL}, {VmaRecord.VM_RAND_READ, MADV_RANDOM}};

    private VmFlagsRestore() {
    }

    /**
     * The huge page advice (hg, nh) of a VMA whose pages are about to be written, so that they are written into
     * pages of the size the original asked for: with hg, into transparent huge pages allocated (and zeroed) 2 MiB
     * at a time (mm/huge_memory.c), which is also faster than 512 faults of 4 KiB. apply() gives it again.
     */
    static void beforePages(Tracee t, VmaRecord v) throws SysException {
        for (int[] a : ADVICE) {
            if ((a[0] == VmaRecord.VM_HUGEPAGE || a[0] == VmaRecord.VM_NOHUGEPAGE) && v.has(a[0])) {
                t.syscall("madvise(" + Vmas.hex(v.start()) + ", " + a[1] + ")", Nr.MADVISE, v.start(), v.size(), a[1]);
            }
        }
    }

    static void apply(Tracee t, VmaRecord v) throws SysException {
        for (int[] a : ADVICE) {
            if (v.has(a[0])) t.syscall("madvise(" + Vmas.hex(v.start()) + ", " + a[1] + ")", Nr.MADVISE, v.start(), v.size(), a[1]);
        }
        if (v.has(VmaRecord.VM_LOCKED)) {
            // needs CAP_IPC_LOCK or room in RLIMIT_MEMLOCK: the task is still root here (credentials come last)
            int flags = v.has(VmaRecord.VM_LOCKONFAULT) ? MLOCK_ONFAULT : 0;
            t.syscall("mlock2(" + Vmas.hex(v.start()) + ", " + flags + ")", Nr.MLOCK2, v.start(), v.size(), flags);
        }
    }
}
