package cryo.memory;

import cryo.files.FdBroker;
import cryo.files.OpenFiles;
import cryo.files.FileRecord;
import cryo.image.DataCheck;
import cryo.image.Image;
import cryo.image.ImageException;
import cryo.remote.Scratch;
import cryo.remote.Tracee;
import cryo.sys.Fd;
import cryo.sys.Nr;
import cryo.sys.SysException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The restore half of a process's memory, run inside a fresh task by remote syscalls: clear the stub's
 * layout, put the vdso back where it was, map every VMA, fill the saved pages, set final protections and
 * advice, then the mm fields with PR_SET_MM_MAP.
 */
public final class MemoryRestore {
    private static final int MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20,
            MAP_GROWSDOWN = 0x100, MAP_NORESERVE = 0x4000;
    private static final int ARCH_MAP_VDSO_64 = 0x2003;
    private static final int PR_SET_MM = 35, PR_SET_MM_MAP = 14, PRCTL_MM_MAP_SIZE = 104;

    private MemoryRestore() {
    }

    /**
     * Unmaps everything of the stub but the hole [keepStart, keepEnd) that holds the gadget and scratch, and
     * maps the vdso at its checkpointed address. On 6.x the vdso is [vvar], [vvar_vclock], [vdso] and moves
     * only as a whole: ARCH_MAP_VDSO_64 maps all three at the [vvar] start once none is mapped.
     */
    public static void clearLayout(Tracee t, List<VmaRecord> vmas, long keepStart, long keepEnd) throws SysException, ImageException, IOException {
        t.syscall("munmap(below scratch)", Nr.MUNMAP, 0, keepStart);
        t.syscall("munmap(above scratch)", Nr.MUNMAP, keepEnd, Vmas.TASK_SIZE - keepEnd);
        mapVdso(t, vmas);
    }

    /**
     * Restores the memory of process p in its task t. parent is the image of the parent t was just forked
     * from, already restored (null for a task made from the stub): VMAs t inherited unchanged keep their
     * pages shared copy-on-write (ForkedLayout), and only the pages t has of its own are written.
     */
    public static void restoreProcess(Tracee t, Image.ProcessImage p, Image.ProcessImage parent, Map<Integer, FileRecord> files,
                                      FdBroker broker, Map<Long, Integer> shmem, OpenFiles.Opener memfds, DataCheck data,
                                      long keepStart, long keepEnd)
            throws SysException, IOException, ImageException {
        restoreProcess(t, p, parent, files, broker, shmem, memfds, data, keepStart, keepEnd, LazyMemory.NONE);
    }

    /** The same, with the pages lazy defers left for first touch (restart --lazy: cryo.lazy). */
    public static void restoreProcess(Tracee t, Image.ProcessImage p, Image.ProcessImage parent, Map<Integer, FileRecord> files,
                                      FdBroker broker, Map<Long, Integer> shmem, OpenFiles.Opener memfds, DataCheck data,
                                      long keepStart, long keepEnd, LazyMemory lazy)
            throws SysException, IOException, ImageException {
        if (parent == null) {
            clearLayout(t, p.vmas, keepStart, keepEnd);
            restore(t, p.mm, p.vmas, p.pages, files, broker, shmem, memfds, data, ForkedLayout.NONE, lazy);
        } else {
            ForkedLayout kept = ForkedLayout.of(p, parent);
            kept.clear(t, keepStart, keepEnd);
            restore(t, p.mm, p.vmas, p.pages, files, broker, shmem, memfds, data, kept, lazy);
        }
    }

    /** Maps the vdso at its place once none of it is mapped (ARCH_MAP_VDSO_64), and checks it landed as in the image. */
    static void mapVdso(Tracee t, List<VmaRecord> vmas) throws SysException, ImageException, IOException {
        List<VmaRecord> vdso = vmas.stream().filter(VmaRecord::isVdso).toList();
        if (vdso.isEmpty()) return;
        t.syscall("arch_prctl(ARCH_MAP_VDSO_64)", Nr.ARCH_PRCTL, ARCH_MAP_VDSO_64, vdso.getFirst().start());
        List<Mapping> now = Mapping.read(t.tid);
        for (VmaRecord v : vdso) {
            String name = switch (v.kind()) {
                case VVAR -> "[vvar]";
                case VVAR_VCLOCK -> "[vvar_vclock]";
                default -> "[vdso]";
            };
            boolean found = now.stream().anyMatch(m -> m.path().equals(name) && m.start() == v.start() && m.end() == v.end());
            if (!found) {
                throw new ImageException("the vdso of this kernel does not match the image (" + name + " at "
                        + Vmas.hex(v.start()) + "-" + Vmas.hex(v.end()) + "): restore on the kernel the image was taken on");
            }
        }
    }

    /**
     * Maps and fills the VMAs of one task. shmem holds an fd (O_RDWR, in cryo) on every shared anonymous object
     * of the image, made by SharedAnon: each VMA of one maps that object at its own offset; a MEMFD VMA maps
     * the memfd the Opener made once for its fds and mappings (memfds.memfd). SysV pieces are
     * attached first (SysvAttach). Each VMA is mapped so that its VmFlags come back: MAP_NORESERVE for nr, the
     * file opened for writing only where the mapping had mw, writable at first where the pages must be
     * written or where ac says the private mapping was writable once (VM_ACCOUNT stays after mprotect), then
     * the final protection, madvise and mlock2 (VmFlagsRestore).
     */
    private static void restore(Tracee t, MmRecord mm, List<VmaRecord> vmas, List<PagesRecord> pages,
                                Map<Integer, FileRecord> files, FdBroker broker, Map<Long, Integer> shmem, OpenFiles.Opener memfds,
                                DataCheck data, ForkedLayout kept, LazyMemory lazy) throws SysException, IOException, ImageException {
        long[] written = bytesPerVma(vmas, pages);
        Map<Long, Integer> remoteFds = new HashMap<>();        // by objref * 2 + 1 for O_RDWR
        List<Integer> localFds = new ArrayList<>();
        try {
            SysvAttach.restore(t, vmas);
            for (int i = 0; i < vmas.size(); i++) {
                VmaRecord v = vmas.get(i);
                if (v.isVdso() || v.kind() == VmaRecord.Kind.SYSV || kept.keeps(v)) continue;
                int prot = initialProt(v, written[i] > 0);
                int flags = MAP_FIXED | (v.shared() ? MAP_SHARED : MAP_PRIVATE)
                        | ((v.flags() & VmaRecord.MAP_GROWSDOWN) != 0 ? MAP_GROWSDOWN : 0)
                        | (v.has(VmaRecord.VM_NORESERVE) ? MAP_NORESERVE : 0);
                boolean rw = v.shared() && v.has(VmaRecord.VM_MAYWRITE);
                long fd = -1, off = v.pgoff() * Vmas.PAGE;
                switch (v.kind()) {
                    case FILE, MEMFD -> {
                        Integer remote = remoteFds.get(v.file() * 2L + (rw ? 1 : 0));
                        if (remote == null) {
                            // a memfd: the one object its fds open too, made (and filled) by the first to ask
                            String path = v.kind() == VmaRecord.Kind.MEMFD ? "/proc/self/fd/" + memfds.memfd(v.file()) : memfds.root().path(files.get(v.file()));
                            int local = Fd.open(path, rw ? Fd.O_RDWR : Fd.O_RDONLY);
                            localFds.add(local);
                            remote = broker.pass(t, local);
                            remoteFds.put(v.file() * 2L + (rw ? 1 : 0), remote);
                        }
                        fd = remote;
                    }
                    case SHMEM -> {
                        Integer object = shmem.get(v.shmem());
                        if (object == null) throw new ImageException("record VMA of pid " + v.pid() + " at " + Vmas.hex(v.start()) + ": no SHMEM object " + v.shmem());
                        int local = object;
                        if (!rw) {
                            // a mapping through an fd opened read-only (map_files): shared, but without mw
                            local = Fd.open("/proc/self/fd/" + object, Fd.O_RDONLY);
                            localFds.add(local);
                        }
                        fd = broker.pass(t, local);
                    }
                    default -> {
                        flags |= MAP_ANONYMOUS;
                        off = 0;
                    }
                }
                long r = t.syscall("mmap(" + Vmas.hex(v.start()) + ")", Nr.MMAP, v.start(), v.size(), prot, flags, fd, off);
                if (r != v.start()) throw new SysException("remote mmap in task " + t.tid + " placed " + Vmas.hex(v.start()) + " at " + Vmas.hex(r), cryo.sys.Errno.EINVAL);
                if (v.kind() == VmaRecord.Kind.SHMEM) t.syscall("close(shmem)", Nr.CLOSE, fd);
                if (written[i] > 0) VmFlagsRestore.beforePages(t, v);
            }
            kept.prepare(t, written);
            PageLoad.load(t.tid, lazy.defer(t, pages), data);
            for (int i = 0; i < vmas.size(); i++) {
                VmaRecord v = vmas.get(i);
                if (v.isVdso()) continue;
                boolean raised = kept.keeps(v) ? written[i] > 0 && (v.prot() & VmaRecord.PROT_WRITE) == 0 : initialProt(v, written[i] > 0) != v.prot();
                if (v.kind() != VmaRecord.Kind.SYSV && raised) {
                    t.syscall("mprotect(" + Vmas.hex(v.start()) + ")", Nr.MPROTECT, v.start(), v.size(), v.prot());
                }
                VmFlagsRestore.apply(t, v);
            }
            setMm(t, mm, kept.sameExe() ? null : files.get(mm.exeFile()), broker, memfds.root());
            for (int fd : remoteFds.values()) t.syscall("close(" + fd + ")", Nr.CLOSE, fd);
        } finally {
            for (int fd : localFds) Fd.close(fd);
        }
    }

    /** PROT_WRITE added where pages are to be written, and where VM_ACCOUNT must come back. */
    private static int initialProt(VmaRecord v, boolean written) {
        boolean account = v.has(VmaRecord.VM_ACCOUNT) && !v.shared() && !v.has(VmaRecord.VM_NORESERVE);
        return v.prot() | (written || account ? VmaRecord.PROT_WRITE : 0);
    }

    /** PR_SET_MM_MAP (prctl(2)): code/data/brk/stack/arg/env bounds, auxv and the exe file in one call. */
    private static void setMm(Tracee t, MmRecord mm, FileRecord exe, FdBroker broker, cryo.ns.Root root) throws SysException {
        int exeFd = -1;         // -1: keep the exe file the task has (prctl(2)), here the parent's it was forked from
        if (exe != null) {
            int local = Fd.open(root.path(exe), Fd.O_RDONLY);
            try {
                exeFd = broker.pass(t, local);
            } finally {
                Fd.close(local);
            }
        }
        try (Arena a = Arena.ofConfined()) {
            long auxv = t.put(Scratch.AUX, MemorySegment.ofArray(mm.auxv()));
            MemorySegment map = a.allocate(PRCTL_MM_MAP_SIZE);
            MemorySegment.copy(mm.fields(), 0, map, JAVA_LONG, 0, mm.fields().length);
            map.set(JAVA_LONG, 88, auxv);
            map.set(JAVA_INT, 96, mm.auxv().length * 8);
            map.set(JAVA_INT, 100, exeFd);
            long addr = t.put(Scratch.AUX + 4096, map);
            t.syscall("prctl(PR_SET_MM_MAP)", Nr.PRCTL, PR_SET_MM, PR_SET_MM_MAP, addr, PRCTL_MM_MAP_SIZE, 0);
        }
        if (exeFd >= 0) t.syscall("close(exe)", Nr.CLOSE, exeFd);
    }

    /** Bytes of page data that land in each VMA (records may span adjacent VMAs). */
    static long[] bytesPerVma(List<VmaRecord> vmas, List<PagesRecord> pages) {
        long[] out = new long[vmas.size()];
        for (PagesRecord p : pages) {
            long s = p.addr(), e = p.addr() + p.data().byteSize();
            for (int i = 0; i < vmas.size(); i++) {
                VmaRecord v = vmas.get(i);
                long lo = Math.max(s, v.start()), hi = Math.min(e, v.end());
                if (lo < hi) out[i] += hi - lo;
            }
        }
        return out;
    }
}
