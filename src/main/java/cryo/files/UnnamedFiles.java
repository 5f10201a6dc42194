package cryo.files;

import cryo.image.ImageWriter;
import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.FileIo;
import cryo.sys.Fs;
import cryo.sys.SysException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The files of a checkpoint that no path leads to: memfds (met through fds or mappings) and unlinked FIFOs,
 * each saved once by dev:ino. A memfd's contents are read only when the image is written, straight from
 * /proc/PID/fd/N or /proc/PID/map_files/RANGE (the tree is still frozen), its data extents only (FileData:
 * SEEK_DATA, SEEK_HOLE) in batches of FileData.BATCH bytes, so a large memfd never sits whole in cryo's heap.
 */
public final class UnnamedFiles {
    /** A memfd seen at checkpoint: its record less the data count, and where to read it. */
    private record Memfd(MemfdRecord rec, Path source) {
    }

    private final Map<String, Memfd> memfds = new LinkedHashMap<>();
    private final Map<String, UnlinkedFifoRecord> fifos = new LinkedHashMap<>();
    private final FileTable table;

    UnnamedFiles(FileTable table) {
        this.table = table;
    }

    private static long memfdDev = -1;

    /** The device of memfds (the kernel's internal shmem mount, mm/shmem.c shm_mnt), from one cryo makes. */
    private static long memfdDev() throws SysException, IOException {
        if (memfdDev < 0) {
            int fd = Fs.memfdCreate("cryo-probe", 0);
            try {
                memfdDev = FileTable.Stat.of(Path.of("/proc/self/fd/" + fd)).dev();
            } finally {
                Fd.close(fd);
            }
        }
        return memfdDev;
    }

    /** True when link (readlink of an fd or map_files entry) reads like a memfd's: "/memfd:NAME (deleted)". */
    public static boolean isMemfd(String link) {
        return link.startsWith("/memfd:") && link.endsWith(" (deleted)");
    }

    /**
     * The MEMFD record of the memfd behind proc (/proc/PID/fd/N or /proc/PID/map_files/RANGE), whose link
     * text is link; what names it in a refusal is `what` ("fd 4", "mapping 7f..-7f..").
     */
    public MemfdRecord memfd(int pid, Path proc, String link, String what) throws Refusal, IOException {
        FileTable.Stat st;
        Map<String, Object> a;
        try {
            st = FileTable.Stat.of(proc);
            a = Files.readAttributes(proc, "unix:uid,gid,nlink");
        } catch (NoSuchFileException e) {
            throw new Refusal(pid, what + " (" + link + ") vanished during checkpoint");
        }
        String key = st.dev() + ":" + st.ino();
        Memfd known = memfds.get(key);
        if (known != null) return known.rec();
        String name = link.substring("/memfd:".length(), link.length() - " (deleted)".length());
        int fd;
        try {
            fd = Fd.open(proc.toString(), Fd.O_RDONLY | Fs.O_NOATIME);
        } catch (SysException e) {
            throw new Refusal(pid, what + " is memfd:" + name + ", which cryo cannot open to read: " + e.getMessage());
        }
        try {
            if (Fs.fsType(fd, "memfd:" + name) == Fs.HUGETLBFS_MAGIC) {
                throw new Refusal(pid, what + " is memfd:" + name + " of huge pages (MFD_HUGETLB): not supported");
            }
            if (st.dev() != memfdDev()) throw new Refusal(pid, what + " is " + link + ", a deleted file named like a memfd: not supported");
            int seals = Fd.fcntl(fd, Fs.F_GET_SEALS, 0);
            if ((seals & ~MemfdRecord.SEALS_KNOWN) != 0) {
                throw new Refusal(pid, what + " is memfd:" + name + " with seals 0x" + Integer.toHexString(seals) + " cryo does not know: not supported");
            }
            if ((Integer) a.get("nlink") != 0) throw new Refusal(pid, what + " is memfd:" + name + " with a link to it: not supported");
            MemfdRecord r = new MemfdRecord(table.nextObjref(), name, st.ino(), st.size(), 0, seals, st.mode(),
                    (Integer) a.get("uid"), (Integer) a.get("gid"));
            memfds.put(key, new Memfd(r, proc));
            return r;
        } catch (SysException e) {
            throw new Refusal(pid, what + " is memfd:" + name + ", whose seals cryo cannot read: " + e.getMessage());
        } finally {
            Fd.close(fd);
        }
    }

    /** The UNLINKED_FIFO record of the FIFO behind fd of pid, with its buffer saved as a PIPE. */
    UnlinkedFifoRecord fifo(FdContext c) throws Refusal, IOException {
        String key = c.st().dev() + ":" + c.st().ino();
        UnlinkedFifoRecord known = fifos.get(key);
        if (known != null) return known;
        PipeRecord p = table.pipe(c.pid(), c.fd(), c.st().ino());
        Map<String, Object> a = Files.readAttributes(c.proc(), "unix:uid,gid");
        String path = c.link().substring(0, c.link().length() - " (deleted)".length());
        UnlinkedFifoRecord r = new UnlinkedFifoRecord(table.nextObjref(), p.objref(), c.st().mode(), (Integer) a.get("uid"), (Integer) a.get("gid"), path);
        fifos.put(key, r);
        return r;
    }

    /** The inode of the memfd or unlinked FIFO of objref (for /proc/locks), -1 if none. */
    long inode(int objref) {
        for (var e : memfds.entrySet()) if (e.getValue().rec().objref() == objref) return inodeOf(e.getKey());
        for (var e : fifos.entrySet()) if (e.getValue().objref() == objref) return inodeOf(e.getKey());
        return -1;
    }

    private static long inodeOf(String devIno) {
        return Long.parseLong(devIno.substring(devIno.indexOf(':') + 1));
    }

    /** Writes every memfd with its data, then every unlinked FIFO (after the PIPE records they name). */
    public void write(ImageWriter w) throws IOException {
        for (Memfd m : memfds.values()) writeMemfd(m, w);
        for (UnlinkedFifoRecord f : fifos.values()) w.write(f);
    }

    private static void writeMemfd(Memfd m, ImageWriter w) throws IOException {
        MemfdRecord r = m.rec();
        String what = r.describe() + " (" + m.source() + ")";
        try {
            int fd = Fd.open(m.source().toString(), Fd.O_RDONLY | Fs.O_NOATIME);
            try {
                List<FileData.Extent> extents = FileData.extents(fd, r.size(), what);
                w.write(new MemfdRecord(r.objref(), r.name(), r.inode(), r.size(), FileData.bytes(extents), r.seals(), r.mode(), r.uid(), r.gid()));
                FileData.read(fd, extents, what, (off, data) -> w.write(MemfdDataRecord.of(r.objref(), off, data)));
            } finally {
                Fd.close(fd);
            }
        } catch (SysException e) {
            throw new IOException("reading " + what + ": " + e.getMessage());
        }
    }
}
