package cryo.memory;

import cryo.image.DataCheck;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.sys.Fd;
import cryo.sys.Mman;
import cryo.sys.SysException;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Shared anonymous memory objects (mmap MAP_SHARED|MAP_ANONYMOUS: a shmem file "dev/zero", mm/shmem.c
 * shmem_zero_setup()), saved and restored once per object, not per mapping: a tree may map one object in
 * several tasks, in pieces, at different offsets (mremap, or a mapping of /proc/PID/map_files), and the
 * object may be larger than what is still mapped of it.
 *
 * Checkpoint opens the object through /proc/PID/map_files of one of its VMAs, takes its size from the file
 * (i_size, lseek SEEK_END) and its pages from SEEK_DATA/SEEK_HOLE, which for shmem walk only the pages that
 * exist (in memory or in swap): a 1 GiB object with a few written pages costs a few pages. Restart creates
 * each object in cryo itself (a MAP_SHARED mapping of /dev/zero, the very call that MAP_ANONYMOUS makes),
 * fills it, keeps an fd on it from /proc/self/map_files, and every VMA maps that fd at its own offset.
 */
public final class SharedAnon {
    /** Pages per SHMEM_PAGES record at most. */
    private static final long CHUNK = 8L << 20;

    private SharedAnon() {
    }

    /** The objects a checkpoint found and cryo's read-only mappings of them, which their pages point into. */
    public record Dump(List<ShmemRecord> objects, List<ShmemPagesRecord> pages, List<long[]> mappings) implements AutoCloseable {
        /** In image order: every SHMEM record, then every SHMEM_PAGES. */
        public List<ImageRecord> records() {
            List<ImageRecord> out = new ArrayList<>(objects);
            out.addAll(pages);
            return out;
        }

        @Override
        public void close() {
            for (long[] m : mappings) Mman.munmap(m[0], m[1]);
        }
    }

    /**
     * Shared anonymous objects of the tree that a process outside it maps too, one line each: after restart the
     * tree would have an object of its own and the two would no longer see each other's writes.
     */
    public static List<String> leaks(Collection<VmaRecord> vmas, java.util.Set<Integer> tree) {
        Map<Long, VmaRecord> objects = new HashMap<>();
        for (VmaRecord v : vmas) if (v.kind() == VmaRecord.Kind.SHMEM) objects.putIfAbsent(v.shmem(), v);
        List<String> out = new ArrayList<>();
        if (objects.isEmpty()) return out;
        java.io.File[] procs = new java.io.File("/proc").listFiles((d, n) -> !n.isEmpty() && n.chars().allMatch(Character::isDigit));
        int self = (int) ProcessHandle.current().pid();
        for (java.io.File dir : procs == null ? new java.io.File[0] : procs) {
            int pid = Integer.parseInt(dir.getName());
            if (tree.contains(pid) || pid == self) continue;
            String maps;
            try {
                maps = cryo.sys.ProcFile.read("/proc/" + pid + "/maps");
            } catch (java.io.IOException e) {
                continue;               // gone, or a kernel thread
            }
            for (String line : maps.split("\n")) {
                if (!line.endsWith(" /dev/zero (deleted)")) continue;
                String[] f = line.trim().split(" +");
                VmaRecord v = f.length > 4 ? objects.remove(Long.parseLong(f[4])) : null;
                if (v != null) {
                    out.add("task " + v.pid() + ": shared anonymous memory at " + Long.toHexString(v.start()) + "-" + Long.toHexString(v.end())
                            + " is also mapped by task " + pid + " (at " + f[0] + "), which is outside the tree (--allow-leaks accepts this: "
                            + "the restored tree gets an object of its own)");
                }
            }
        }
        return out;
    }

    /** Reads every shared anonymous object the VMAs (of any task of the tree, stopped) map. */
    public static Dump checkpoint(Collection<VmaRecord> vmas) throws SysException {
        Map<Long, ShmemRecord> objects = new java.util.LinkedHashMap<>();
        List<ShmemPagesRecord> pages = new ArrayList<>();
        List<long[]> mappings = new ArrayList<>();
        Dump dump = new Dump(new ArrayList<>(), pages, mappings);
        try {
            for (VmaRecord v : vmas) {
                if (v.kind() != VmaRecord.Kind.SHMEM || objects.containsKey(v.shmem())) continue;
                String path = "/proc/" + v.pid() + "/map_files/" + Long.toHexString(v.start()) + "-" + Long.toHexString(v.end());
                int fd = Fd.open(path, Fd.O_RDONLY);
                try {
                    long size = (Fd.lseek(fd, 0, Fd.SEEK_END, path) + Vmas.PAGE - 1) & -Vmas.PAGE;
                    ShmemRecord o = new ShmemRecord(objects.size() + 1, v.shmem(), size);
                    objects.put(v.shmem(), o);
                    dump.objects().add(o);
                    long addr = Mman.mmap(size, Mman.PROT_READ, Mman.MAP_SHARED, fd, 0, path);
                    mappings.add(new long[]{addr, size});
                    MemorySegment seg = MemorySegment.ofAddress(addr).reinterpret(size);
                    for (long off = 0; off < size; ) {
                        long data = Fd.lseek(fd, off, Fd.SEEK_DATA, path);
                        if (data < 0 || data >= size) break;
                        long hole = Fd.lseek(fd, data, Fd.SEEK_HOLE, path);
                        if (hole < 0 || hole > size) hole = size;
                        for (long at = data; at < hole; at += CHUNK) {
                            pages.add(ShmemPagesRecord.of(o.id(), at, seg.asSlice(at, Math.min(CHUNK, hole - at))));
                        }
                        off = hole;
                    }
                } finally {
                    Fd.close(fd);
                }
            }
            return dump;
        } catch (SysException | RuntimeException e) {
            dump.close();
            throw e;
        }
    }

    /**
     * Creates every object with its size and pages, in cryo; returns an fd (O_RDWR) on each, by inode, for the
     * tasks' VMAs to map. The caller closes them.
     */
    public static Map<Long, Integer> restore(Collection<ShmemRecord> objects, Map<Integer, List<ShmemPagesRecord>> pages,
                                             DataCheck data) throws SysException, ImageException {
        Map<Long, Integer> fds = new HashMap<>();
        try {
            for (ShmemRecord o : objects) {
                int zero = Fd.open("/dev/zero", Fd.O_RDWR);
                long addr;
                try {
                    addr = Mman.mmap(o.size(), Mman.PROT_READ | Mman.PROT_WRITE, Mman.MAP_SHARED, zero, 0, "/dev/zero");
                } finally {
                    Fd.close(zero);
                }
                try {
                    MemorySegment seg = MemorySegment.ofAddress(addr).reinterpret(o.size());
                    for (ShmemPagesRecord p : pages.getOrDefault(o.id(), List.of())) {
                        data.verify(p);
                        MemorySegment.copy(p.data(), 0, seg, p.offset(), p.data().byteSize());
                    }
                    fds.put(o.inode(), Fd.open("/proc/self/map_files/" + Long.toHexString(addr) + "-" + Long.toHexString(addr + o.size()), Fd.O_RDWR));
                } finally {
                    Mman.munmap(addr, o.size());
                }
            }
            return fds;
        } catch (SysException | ImageException | RuntimeException e) {
            for (int fd : fds.values()) Fd.close(fd);
            throw e;
        }
    }
}
