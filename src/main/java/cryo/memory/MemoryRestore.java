package cryo.memory;

import cryo.files.FdBroker;
import cryo.files.FileRecord;
import cryo.image.DataCheck;
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
            MAP_GROWSDOWN = 0x100;
    private static final int MADV_DONTFORK = 10, MADV_MERGEABLE = 12, MADV_HUGEPAGE = 14, MADV_NOHUGEPAGE = 15,
            MADV_DONTDUMP = 16, MADV_WIPEONFORK = 18;
    private static final int ARCH_MAP_VDSO_64 = 0x2003;
    private static final int SHM_RDONLY = 010000, SHM_EXEC = 0100000;
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
     * Maps and fills the VMAs of one task. shmem carries the shared anonymous objects across the tasks of a
     * restart: the first task to map object X gets a fresh MAP_SHARED|MAP_ANONYMOUS mapping, and cryo opens
     * that very object through /proc/PID/map_files to hand it to every other VMA of X, so writes stay shared
     * and /proc/PID/maps shows "/dev/zero (deleted)" as before.
     */
    public static void restore(Tracee t, MmRecord mm, List<VmaRecord> vmas, List<PagesRecord> pages,
                               Map<Integer, FileRecord> files, FdBroker broker, Map<Long, Integer> shmem, DataCheck data)
            throws SysException, IOException, ImageException {
        long[] written = bytesPerVma(vmas, pages);
        Map<Integer, Integer> remoteFds = new HashMap<>();
        List<Integer> localFds = new ArrayList<>();
        try {
            for (VmaRecord v : vmas) {
                if (v.kind() == VmaRecord.Kind.FILE && !remoteFds.containsKey(v.file())) {
                    boolean shared = vmas.stream().anyMatch(o -> o.file() == v.file() && o.shared());
                    int local = openForMapping(files.get(v.file()), shared);
                    localFds.add(local);
                    remoteFds.put(v.file(), broker.pass(t, local));
                }
            }
            for (int i = 0; i < vmas.size(); i++) {
                VmaRecord v = vmas.get(i);
                if (v.isVdso()) continue;
                if (v.kind() == VmaRecord.Kind.SYSV) {
                    int shmflg = ((v.prot() & VmaRecord.PROT_WRITE) == 0 ? SHM_RDONLY : 0) | ((v.prot() & VmaRecord.PROT_EXEC) != 0 ? SHM_EXEC : 0);
                    long r = t.syscall("shmat(" + v.shmem() + ", " + Vmas.hex(v.start()) + ")", Nr.SHMAT, v.shmem(), v.start(), shmflg);
                    if (r != v.start()) throw new SysException("remote shmat in task " + t.tid + " placed segment " + v.shmem() + " at " + Vmas.hex(r), cryo.sys.Errno.EINVAL);
                    continue;
                }
                int prot = v.prot() | (written[i] > 0 ? VmaRecord.PROT_WRITE : 0);
                int flags = MAP_FIXED | (v.shared() ? MAP_SHARED : MAP_PRIVATE)
                        | ((v.flags() & VmaRecord.MAP_GROWSDOWN) != 0 ? MAP_GROWSDOWN : 0);
                long fd = -1, off = 0;
                boolean sharedObject = v.kind() == VmaRecord.Kind.SHMEM && shmem.containsKey(v.shmem());
                if (v.kind() == VmaRecord.Kind.FILE) {
                    fd = remoteFds.get(v.file());
                    off = v.pgoff() * Vmas.PAGE;
                } else if (sharedObject) {
                    fd = broker.pass(t, shmem.get(v.shmem()));
                    off = v.pgoff() * Vmas.PAGE;
                } else {
                    flags |= MAP_ANONYMOUS;
                }
                long r = t.syscall("mmap(" + Vmas.hex(v.start()) + ")", Nr.MMAP, v.start(), v.size(), prot, flags, fd, off);
                if (r != v.start()) throw new SysException("remote mmap in task " + t.tid + " placed " + Vmas.hex(v.start()) + " at " + Vmas.hex(r), cryo.sys.Errno.EINVAL);
                if (sharedObject) {
                    t.syscall("close(shmem)", Nr.CLOSE, fd);
                } else if (v.kind() == VmaRecord.Kind.SHMEM) {
                    shmem.put(v.shmem(), Fd.open("/proc/" + t.tid + "/map_files/" + Long.toHexString(v.start()) + "-" + Long.toHexString(v.end()), Fd.O_RDWR));
                }
            }
            PageMover.load(t.tid, pages, data);
            for (int i = 0; i < vmas.size(); i++) {
                VmaRecord v = vmas.get(i);
                if (v.isVdso() || v.kind() == VmaRecord.Kind.SYSV) continue;
                if (written[i] > 0 && (v.prot() & VmaRecord.PROT_WRITE) == 0) {
                    t.syscall("mprotect(" + Vmas.hex(v.start()) + ")", Nr.MPROTECT, v.start(), v.size(), v.prot());
                }
                adviseAll(t, v);
            }
            setMm(t, mm, files.get(mm.exeFile()), broker);
            for (int fd : remoteFds.values()) t.syscall("close(" + fd + ")", Nr.CLOSE, fd);
        } finally {
            for (int fd : localFds) Fd.close(fd);
        }
    }

    private static void adviseAll(Tracee t, VmaRecord v) throws SysException {
        int[][] map = {{VmaRecord.ADV_DONTFORK, MADV_DONTFORK}, {VmaRecord.ADV_DONTDUMP, MADV_DONTDUMP},
                {VmaRecord.ADV_HUGEPAGE, MADV_HUGEPAGE}, {VmaRecord.ADV_NOHUGEPAGE, MADV_NOHUGEPAGE},
                {VmaRecord.ADV_MERGEABLE, MADV_MERGEABLE}, {VmaRecord.ADV_WIPEONFORK, MADV_WIPEONFORK}};
        for (int[] m : map) {
            if ((v.advice() & m[0]) != 0) t.syscall("madvise(" + Vmas.hex(v.start()) + ", " + m[1] + ")", Nr.MADVISE, v.start(), v.size(), m[1]);
        }
    }

    private static int openForMapping(FileRecord f, boolean shared) throws SysException {
        if (shared) {
            try {
                return Fd.open(f.path(), Fd.O_RDWR);
            } catch (SysException e) {
                // a read-only shared mapping of a file cryo may not write: read-only is enough for it
            }
        }
        return Fd.open(f.path(), Fd.O_RDONLY);
    }

    /** PR_SET_MM_MAP (prctl(2)): code/data/brk/stack/arg/env bounds, auxv and the exe file in one call. */
    private static void setMm(Tracee t, MmRecord mm, FileRecord exe, FdBroker broker) throws SysException {
        int local = Fd.open(exe.path(), Fd.O_RDONLY);
        int exeFd;
        try {
            exeFd = broker.pass(t, local);
        } finally {
            Fd.close(local);
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
        t.syscall("close(exe)", Nr.CLOSE, exeFd);
    }

    /** Bytes of page data that land in each VMA (records may span adjacent VMAs). */
    private static long[] bytesPerVma(List<VmaRecord> vmas, List<PagesRecord> pages) {
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
