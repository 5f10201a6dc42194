package cryo.memory;

import cryo.image.Image;
import cryo.image.ImageException;
import cryo.remote.Tracee;
import cryo.sys.Nr;
import cryo.sys.SysException;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The layout of a task forked from its restored parent: the VMAs it inherited unchanged (kept, pages
 * shared copy-on-write) stay, everything else of the parent's goes. In a kept VMA the pages the task does
 * not share with its parent are dropped (MADV_DONTNEED: zero again in anonymous memory, the file's page
 * again in a private file mapping) and its own pages are then written over them (PageMover), which
 * breaks the sharing only where the original had broken it.
 */
final class ForkedLayout {
    static final ForkedLayout NONE = new ForkedLayout(List.of(), Set.of(), List.of(), List.of(), false);
    private static final int MADV_DONTNEED = 4;

    private final List<VmaRecord> vmas;
    private final Set<VmaRecord> kept;
    private final List<InheritedRecord> inherited;
    private final List<VmaRecord> parentVmas;
    private final boolean sameExe;

    private ForkedLayout(List<VmaRecord> vmas, Set<VmaRecord> kept, List<InheritedRecord> inherited, List<VmaRecord> parentVmas, boolean sameExe) {
        this.vmas = vmas;
        this.kept = kept;
        this.inherited = inherited;
        this.parentVmas = parentVmas;
        this.sameExe = sameExe;
    }

    static ForkedLayout of(Image.ProcessImage p, Image.ProcessImage parent) {
        Set<VmaRecord> kept = new HashSet<>();
        for (VmaRecord v : p.vmas) {
            for (VmaRecord pv : parent.vmas) if (pv.start() == v.start() && v.inheritableFrom(pv)) kept.add(v);
        }
        return new ForkedLayout(p.vmas, kept, p.inherited, parent.vmas, p.mm.exeFile() == parent.mm.exeFile());
    }

    boolean keeps(VmaRecord v) {
        return kept.contains(v);
    }

    /** The task has its parent's exe file already: PR_SET_MM_MAP must not set it (EBUSY while it is mapped). */
    boolean sameExe() {
        return sameExe;
    }

    /** Unmaps all but the kept VMAs, the hole [keepStart, keepEnd) and the vdso if it is where the task's was. */
    void clear(Tracee t, long keepStart, long keepEnd) throws SysException, IOException, ImageException {
        List<long[]> keep = new ArrayList<>();
        for (VmaRecord v : kept) keep.add(new long[]{v.start(), v.end()});
        keep.add(new long[]{keepStart, keepEnd});
        List<String> vdso = vmas.stream().filter(VmaRecord::isVdso).map(v -> v.kind() + " " + v.start() + " " + v.end()).toList();
        boolean sameVdso = !vdso.isEmpty() && vdso.equals(parentVmas.stream().filter(VmaRecord::isVdso).map(v -> v.kind() + " " + v.start() + " " + v.end()).toList());
        if (sameVdso) for (VmaRecord v : vmas) if (v.isVdso()) keep.add(new long[]{v.start(), v.end()});
        keep.sort(Comparator.comparingLong(r -> r[0]));
        long at = 0;
        for (long[] r : keep) {
            if (r[0] > at) t.syscall("munmap(" + Vmas.hex(at) + ")", Nr.MUNMAP, at, r[0] - at);
            at = Math.max(at, r[1]);
        }
        if (at < Vmas.TASK_SIZE) t.syscall("munmap(" + Vmas.hex(at) + ")", Nr.MUNMAP, at, Vmas.TASK_SIZE - at);
        if (!sameVdso) MemoryRestore.mapVdso(t, vmas);
    }

    /**
     * Before the task's pages are written: in each kept VMA drop what it does not share with its parent, and
     * make a kept VMA that gets pages writable for the copy (restore puts its protection back after).
     */
    void prepare(Tracee t, long[] written) throws SysException {
        for (int i = 0; i < vmas.size(); i++) {
            VmaRecord v = vmas.get(i);
            if (!kept.contains(v)) continue;
            long at = v.start();
            for (InheritedRecord r : inherited) {
                if (r.addr() + r.len() <= v.start() || r.addr() >= v.end()) continue;
                if (r.addr() > at) dontneed(t, at, r.addr());
                at = Math.max(at, r.addr() + r.len());
            }
            if (at < v.end()) dontneed(t, at, v.end());
            if (written[i] > 0 && (v.prot() & VmaRecord.PROT_WRITE) == 0) {
                t.syscall("mprotect(" + Vmas.hex(v.start()) + ")", Nr.MPROTECT, v.start(), v.size(), v.prot() | VmaRecord.PROT_WRITE);
            }
        }
    }

    private static void dontneed(Tracee t, long from, long to) throws SysException {
        t.syscall("madvise(" + Vmas.hex(from) + ", MADV_DONTNEED)", Nr.MADVISE, from, to - from, MADV_DONTNEED);
    }
}
