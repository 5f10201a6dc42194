package cryo.memory;

import cryo.sys.ProcFile;
import cryo.files.FileRecord;
import cryo.files.FileTable;
import cryo.files.UnnamedFiles;
import cryo.image.Refusal;
import cryo.remote.Tracee;
import cryo.sys.Fd;
import cryo.sys.Nr;
import cryo.sys.PagemapScan;
import cryo.sys.SysException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The checkpoint half of a process's memory: its mm fields, one VMA record per mapping, and which pages to
 * save. The restore half is MemoryRestore; the pages move through PageMover.
 */
public final class AddressSpace {
    // /proc/PID/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
    private static final long PM_PRESENT = 1L << 63, PM_SWAP = 1L << 62, PM_FILE = 1L << 61;

    /**
     * What a checkpoint of one address space found: records plus the runs of pages to save, and (CowSharing)
     * the runs of pages it still shares copy-on-write with its parent, which are not saved again.
     */
    public record Dump(MmRecord mm, List<VmaRecord> vmas, Runs pages, Runs unreadablePages, Runs inherited) {
        public long pageBytes() {
            return pages.bytes + unreadablePages.bytes;
        }

        /** One INHERITED record per run of pages shared with the parent, cut at VMA boundaries (runs merge across them). */
        public List<InheritedRecord> inheritedRecords() {
            List<InheritedRecord> out = new ArrayList<>();
            for (int i = 0; i < inherited.count; i++) {
                long s = inherited.addr[i], e = s + inherited.len[i];
                for (VmaRecord v : vmas) {
                    long lo = Math.max(s, v.start()), hi = Math.min(e, v.end());
                    if (lo < hi) out.add(new InheritedRecord(mm.pid(), lo, hi - lo));
                }
            }
            return out;
        }
    }

    private AddressSpace() {
    }

    /** The syscall instruction (0f 05) of the task's vdso, for remote calls that need no code poked in. */
    public static long findSyscallInsn(int pid, List<Mapping> maps) throws SysException, Refusal {
        for (Mapping m : maps) {
            if (!m.path().equals("[vdso]")) continue;
            try (var arena = java.lang.foreign.Arena.ofConfined()) {
                var seg = arena.allocate(m.end() - m.start());
                cryo.sys.ProcessVm.read(pid, seg, m.start());
                for (long i = 0; i + 1 < seg.byteSize(); i++) {
                    if (seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i) == 0x0f && seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i + 1) == 0x05) {
                        return m.start() + i;
                    }
                }
            }
        }
        throw new Refusal(pid, "has no vdso with a syscall instruction (vdso=0 boot option?): not supported");
    }

    /** The program break of a stopped process whose leader is t: the one mm field only a remote call shows. */
    public static long brk(Tracee t) throws SysException {
        return t.syscall("brk(0)", Nr.BRK, 0);
    }

    /** Reads the mappings, mm fields and page plan of a stopped process; brk from brk(). No remote call. */
    public static Dump checkpoint(int pid, long brk, List<Mapping> maps, long[] statMm, FileTable files) throws Refusal, IOException, SysException {
        List<VmaRecord> vmas = new ArrayList<>();
        Runs pages = new Runs(), unreadable = new Runs();
        int pagemapFd = Fd.open("/proc/" + pid + "/pagemap", Fd.O_RDONLY);
        FileChannel pagemap = null;            // for collectPages, only without PAGEMAP_SCAN
        Refusal.Collector refused = new Refusal.Collector();   // every mapping cryo cannot take, not only the first
        try {
            for (Mapping m : maps) {
                VmaRecord v;
                try {
                    v = vma(pid, m, files);
                } catch (Refusal r) {
                    refused.add(r);
                    continue;
                }
                if (v == null) continue;
                vmas.add(v);
                boolean privateFile = (v.kind() == VmaRecord.Kind.FILE || v.kind() == VmaRecord.Kind.MEMFD) && !v.shared();
                // Shared anonymous objects are saved once for the tree, by SharedAnon.
                boolean anon = v.kind() == VmaRecord.Kind.ANON;
                if (privateFile || anon) {
                    Runs into = m.readable() ? pages : unreadable;
                    if (!scanPages(pagemapFd, m, privateFile, into)) {
                        if (pagemap == null) pagemap = FileChannel.open(Path.of("/proc/" + pid + "/pagemap"), StandardOpenOption.READ);
                        collectPages(pagemap, m, privateFile, into);
                    }
                }
            }
        } finally {
            Fd.close(pagemapFd);
            if (pagemap != null) pagemap.close();
        }
        refused.throwIfAny();
        long[] f = new long[MmRecord.NAMES.length];
        f[MmRecord.START_CODE] = statMm[0];
        f[MmRecord.END_CODE] = statMm[1];
        f[MmRecord.START_STACK] = statMm[2];
        f[MmRecord.START_DATA] = statMm[3];
        f[MmRecord.END_DATA] = statMm[4];
        f[MmRecord.START_BRK] = statMm[5];
        f[MmRecord.BRK] = brk;
        f[MmRecord.ARG_START] = statMm[6];
        f[MmRecord.ARG_END] = statMm[7];
        f[MmRecord.ENV_START] = statMm[8];
        f[MmRecord.ENV_END] = statMm[9];
        byte[] auxvBytes = ProcFile.bytes("/proc/" + pid + "/auxv");
        long[] auxv = new long[auxvBytes.length / 8];
        ByteBuffer.wrap(auxvBytes).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(auxv);
        Path exeLink = Path.of("/proc/" + pid + "/exe");
        // an executable deleted since it was started (a package upgrade replaced it) is a ghost file like its mappings
        int exe = files.mappedFile(pid, exeLink, Files.readSymbolicLink(exeLink).toString(), "its executable");
        return new Dump(new MmRecord(pid, f, auxv, exe), vmas, pages, unreadable, new Runs());
    }

    private static VmaRecord vma(int pid, Mapping m, FileTable files) throws Refusal, IOException {
        String path = m.path();
        int flags = (m.shared() ? VmaRecord.MAP_SHARED : VmaRecord.MAP_PRIVATE) | (m.vmFlags().contains("gd") ? VmaRecord.MAP_GROWSDOWN : 0);
        int vmFlags = vmFlags(pid, m);
        VmaRecord.Kind kind;
        int file = 0;
        long shmem = 0;
        switch (path) {
            case "[vsyscall]" -> {
                return null;           // fixed by the kernel: can be neither unmapped nor mapped over
            }
            case "[vvar]" -> kind = VmaRecord.Kind.VVAR;
            case "[vvar_vclock]" -> kind = VmaRecord.Kind.VVAR_VCLOCK;
            case "[vdso]" -> kind = VmaRecord.Kind.VDSO;
            default -> {
                if (path.startsWith("/SYSV")) {
                    // A SysV segment's shm file has the segment's id as inode number (ipc/shm.c newseg()).
                    kind = VmaRecord.Kind.SYSV;
                    shmem = m.inode();
                } else if (path.equals("/dev/zero (deleted)")) {
                    if (!m.shared()) throw new Refusal(pid, "private mapping " + m.range() + " of a shared anonymous memory object (through /proc/PID/map_files): not supported");
                    kind = VmaRecord.Kind.SHMEM;
                    shmem = m.inode();
                } else if (UnnamedFiles.isMemfd(path) && m.inode() != 0) {
                    // one object for the tree however many mappings and fds lead to it; its data are saved with it
                    kind = VmaRecord.Kind.MEMFD;
                    file = files.unnamed().memfd(pid, Path.of("/proc/" + pid + "/map_files/" + m.range()), path, "mapping " + m.range()).objref();
                } else if (m.inode() == 0 || path.isEmpty() || path.startsWith("[")) {
                    if (m.shared()) throw new Refusal(pid, "shared mapping " + m.range() + " " + path + ": not supported");
                    kind = VmaRecord.Kind.ANON;
                } else {
                    if (m.vmFlags().contains("io") || m.vmFlags().contains("pf")) {
                        throw new Refusal(pid, "device mapping " + m.range() + " of " + path + ": not supported");
                    }
                    kind = VmaRecord.Kind.FILE;
                    file = files.mappedFile(pid, Path.of("/proc/" + pid + "/map_files/" + m.range()), path, "mapping " + m.range());
                }
            }
        }
        return new VmaRecord(pid, m.start(), m.end(), m.prot(), flags, m.offset() / Vmas.PAGE, kind, file, shmem, vmFlags);
    }

    /**
     * The VmFlags restart sets again (VmaRecord.VM_*); refuses those it cannot: they come from userfaultfd
     * (um, uw, ui), mseal (sl), hugetlbfs (ht), a shadow stack (ss), or a driver's special mapping (de, mm,
     * ar) — outside the vdso, whose flags the kernel sets itself.
     */
    private static int vmFlags(int pid, Mapping m) throws Refusal {
        boolean vdso = m.path().equals("[vdso]") || m.path().startsWith("[vvar");
        for (String f : m.vmFlags()) {
            String what = switch (f) {
                case "um", "uw", "ui" -> "registered with userfaultfd";
                case "sl" -> "sealed (mseal)";
                case "ht" -> "a hugetlb mapping";
                case "ss" -> "a shadow stack";
                case "de", "mm", "ar" -> vdso ? null : "a special mapping of a driver";
                default -> null;
            };
            if (what != null) throw new Refusal(pid, "mapping " + m.range() + (m.path().isEmpty() ? "" : " " + m.path()) + " is " + what + " (VmFlags " + f + "): not supported");
        }
        return VmaRecord.vmFlags(m.vmFlags());
    }

    /** False once PAGEMAP_SCAN turned out missing (before 6.7): collectPages reads pagemap instead. */
    private static volatile boolean scanMissing;

    /**
     * The pages collectPages would choose, found by PAGEMAP_SCAN: present or swapped, and in a private file
     * mapping not the file's (PAGE_IS_FILE clear). Returns false if the kernel lacks it.
     */
    private static boolean scanPages(int pagemapFd, Mapping m, boolean onlyAnon, Runs into) throws SysException {
        if (scanMissing) return false;
        long notFile = onlyAnon ? PagemapScan.PAGE_IS_FILE : 0;
        boolean ok = PagemapScan.scan(pagemapFd, m.start(), m.end(), notFile, notFile,
                PagemapScan.PAGE_IS_PRESENT | PagemapScan.PAGE_IS_SWAPPED, (start, end) -> into.add(start, end - start));
        if (!ok) scanMissing = true;
        return ok;
    }

    /**
     * Pages worth saving, from pagemap: present or swapped; in a private file mapping only those that are
     * no longer the file's page (bit 61 clear: written, so now anonymous). Untouched pages are not saved.
     */
    private static void collectPages(FileChannel pagemap, Mapping m, boolean onlyAnon, Runs into) throws IOException {
        long pages = (m.end() - m.start()) / Vmas.PAGE;
        ByteBuffer buf = ByteBuffer.allocateDirect((int) Math.min(pages, 1 << 16) * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long done = 0; done < pages; ) {
            long n = Math.min(pages - done, buf.capacity() / 8);
            buf.clear().limit((int) n * 8);
            long pos = (m.start() / Vmas.PAGE + done) * 8;
            while (buf.hasRemaining()) {
                if (pagemap.read(buf, pos + buf.position()) < 0) break;
            }
            for (int i = 0; i < n; i++) {
                long e = buf.getLong(i * 8);
                boolean keep = (e & (PM_PRESENT | PM_SWAP)) != 0 && !(onlyAnon && (e & PM_FILE) != 0 && (e & PM_SWAP) == 0);
                if (keep) into.add(m.start() + (done + i) * Vmas.PAGE, Vmas.PAGE);
            }
            done += n;
        }
    }
}
