package cryo.memory;

import cryo.remote.Tracee;
import cryo.sys.Errno;
import cryo.sys.Nr;
import cryo.sys.SysException;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * SysV shared memory attached in a task, whole or in part: one shmat(2) may have been cut into pieces by
 * munmap or mprotect, each piece a VMA at its own offset (pgoff) into the segment. Restart attaches the
 * segment once per attach, anywhere, moves each piece to its place with mremap (the pieces stay one attach
 * to the kernel: shm_open/shm_close count one attach per VMA, as munmap left them), and unmaps the rest.
 */
final class SysvAttach {
    private static final int SHM_RDONLY = 010000, SHM_EXEC = 0100000;
    private static final int MREMAP_MAYMOVE = 1, MREMAP_FIXED = 2;
    private static final int MAP_PRIVATE_ANON_FIXED = 0x02 | 0x20 | 0x10;

    private SysvAttach() {
    }

    /** The pieces of one shmat: same segment, same start of the attach (start - pgoff), same access. */
    private record Attach(long segment, long base, boolean writable) {
    }

    private static Map<Attach, List<VmaRecord>> attaches(List<VmaRecord> vmas) {
        Map<Attach, List<VmaRecord>> out = new LinkedHashMap<>();
        for (VmaRecord v : vmas) {
            if (v.kind() != VmaRecord.Kind.SYSV) continue;
            Attach a = new Attach(v.shmem(), v.start() - v.pgoff() * Vmas.PAGE, v.has(VmaRecord.VM_MAYWRITE));
            out.computeIfAbsent(a, k -> new ArrayList<>()).add(v);
        }
        return out;
    }

    /**
     * Attaches every SysV piece of the task at its place, before any other VMA is mapped (so the
     * placeholders below never replace one). Each piece's range first gets a PROT_NONE placeholder, so that
     * the attach, placed by the kernel, lands outside all of them; then every piece is moved from the attach
     * to its place (MREMAP_FIXED replaces the placeholder) and the rest of the attach is unmapped.
     */
    static void restore(Tracee t, List<VmaRecord> vmas) throws SysException, IOException {
        for (var e : attaches(vmas).entrySet()) {
            Attach a = e.getKey();
            List<VmaRecord> pieces = e.getValue();
            for (VmaRecord v : pieces) {
                t.syscall("mmap(placeholder " + Vmas.hex(v.start()) + ")", Nr.MMAP, v.start(), v.size(), 0, MAP_PRIVATE_ANON_FIXED, -1, 0);
            }
            boolean exec = pieces.stream().anyMatch(v -> (v.prot() & VmaRecord.PROT_EXEC) != 0);
            int shmflg = (a.writable() ? 0 : SHM_RDONLY) | (exec ? SHM_EXEC : 0);
            long at = t.syscall("shmat(" + a.segment() + ")", Nr.SHMAT, a.segment(), 0, shmflg);
            long size = Mapping.read(t.tid).stream().filter(m -> m.start() == at).findFirst()
                    .orElseThrow(() -> new SysException("remote shmat(" + a.segment() + ") in task " + t.tid + " left no mapping at " + Vmas.hex(at), Errno.EINVAL))
                    .end() - at;
            int attached = VmaRecord.PROT_READ | (a.writable() ? VmaRecord.PROT_WRITE : 0) | (exec ? VmaRecord.PROT_EXEC : 0);
            for (VmaRecord v : pieces) {
                long from = at + v.pgoff() * Vmas.PAGE;
                if (from + v.size() > at + size) {
                    throw new SysException("remote shmat(" + a.segment() + ") in task " + t.tid + ": the segment is " + size
                            + " bytes, the piece at " + Vmas.hex(v.start()) + " needs " + (v.pgoff() * Vmas.PAGE + v.size()), Errno.EINVAL);
                }
                long r = t.syscall("mremap(shm " + a.segment() + " to " + Vmas.hex(v.start()) + ")", Nr.MREMAP, from, v.size(), v.size(),
                        MREMAP_MAYMOVE | MREMAP_FIXED, v.start());
                if (r != v.start()) throw new SysException("remote mremap in task " + t.tid + " moved to " + Vmas.hex(r), Errno.EINVAL);
                if (v.prot() != attached) t.syscall("mprotect(" + Vmas.hex(v.start()) + ")", Nr.MPROTECT, v.start(), v.size(), v.prot());
            }
            // What is left of the attach: munmap of a range with holes unmaps only what is there.
            t.syscall("munmap(rest of shm " + a.segment() + ")", Nr.MUNMAP, at, size);
        }
    }
}
