package cryo.files;

import cryo.image.DataCheck;
import cryo.image.ImageException;
import cryo.sys.Errno;
import cryo.sys.Fd;
import cryo.sys.FileIo;
import cryo.sys.SysException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Restart of ghost files: each GHOST is recreated before any task is restored — with O_TMPFILE in its old
 * directory if it never had a name, else under its old name (O_EXCL), unlinked again at once, so it is on
 * disk by name only for the moment between two calls and a failed restart leaves nothing behind. cryo keeps
 * one O_RDONLY fd of each once it is filled; every description and mapping of the file is a new open of /proc/self/fd/N, the
 * same deleted inode (its /proc link reads "DIR/NAME (deleted)" again), so mappings shared by several tasks
 * stay shared. Also checks GHOST_DATA records as the image is read.
 */
public final class GhostFiles implements AutoCloseable {
    private static final int EISDIR = 21;   // open(2): O_TMPFILE on a kernel or file system without it
    private final Map<Integer, Integer> holders = new LinkedHashMap<>();

    private GhostFiles() {
    }

    /**
     * Checks a GHOST_DATA record against the GHOST it belongs to and the data before it: in order, not
     * overlapping, inside the file's size.
     */
    public static void checkData(Map<Integer, GhostRecord> ghosts, Map<Integer, List<GhostDataRecord>> data, GhostDataRecord d, String name)
            throws ImageException {
        GhostRecord g = ghosts.get(d.ghost());
        if (g == null) throw new ImageException("record " + name + ": field 'ghost' names objref " + d.ghost() + ", which no GHOST record before it has");
        FileData.checkNext(data.computeIfAbsent(d.ghost(), k -> new ArrayList<>()), d, g.size(), "ghost file " + g.path(), name);
    }

    /** Checks that every ghost has all the data its GHOST record announces. */
    public static void checkComplete(Map<Integer, GhostRecord> ghosts, Map<Integer, List<GhostDataRecord>> data) throws ImageException {
        for (GhostRecord g : ghosts.values()) {
            long n = FileData.dataBytes(data.getOrDefault(g.objref(), List.of()));
            if (n != g.dataBytes()) {
                throw new ImageException("record GHOST " + g.objref() + " (" + g.path() + "): field 'data_bytes' is " + g.dataBytes() + ", its GHOST_DATA records hold " + n);
            }
        }
    }

    /**
     * Recreates every ghost file of an image. ghostDir (restart --ghost-dir, or null) is where a ghost goes
     * whose directory no longer exists.
     */
    public static GhostFiles recreate(Map<Integer, GhostRecord> ghosts, Map<Integer, List<GhostDataRecord>> data, Path ghostDir,
                                      DataCheck check) throws SysException, ImageException, IOException {
        GhostFiles out = new GhostFiles();
        boolean ok = false;
        try {
            for (GhostRecord g : ghosts.values()) out.holders.put(g.objref(), recreate(g, data.getOrDefault(g.objref(), List.of()), ghostDir, check));
            if (!ghosts.isEmpty()) cryo.checkpoint.Timings.mark("ghost files");
            ok = true;
            return out;
        } finally {
            if (!ok) out.close();
        }
    }

    private static int recreate(GhostRecord g, List<GhostDataRecord> data, Path ghostDir, DataCheck check) throws SysException, ImageException, IOException {
        Path dir = Path.of(g.directory());
        if (!Files.isDirectory(dir)) {
            if (ghostDir == null) throw new ImageException("ghost file " + g.path() + ": its directory " + dir + " is gone (restart --ghost-dir DIR puts it elsewhere)");
            dir = ghostDir;
        }
        String what = "ghost file " + g.path();
        int fd = create(g, dir);
        try {
            FileData.write(fd, data, what, check::verify);
            FileIo.ftruncate(fd, g.size(), what);
            FileIo.fchown(fd, g.uid(), g.gid(), what);       // before fchmod: chown(2) clears setuid/setgid
            FileIo.fchmod(fd, g.mode() & GhostRecord.PERMISSIONS, what);
            FileIo.futimens(fd, g.atimeNanos(), g.mtimeNanos(), what);
            // cryo keeps a read-only fd: PR_SET_MM_MAP refuses an exe_fd whose file has a writer (EACCES,
            // kernel/sys.c replace_mm_exe_file), and a deleted executable comes back through it too
            int reader = Fd.open("/proc/self/fd/" + fd, Fd.O_RDONLY);
            Fd.close(fd);
            return reader;
        } catch (SysException | ImageException | RuntimeException e) {
            Fd.close(fd);
            throw e;
        }
    }

    /**
     * An O_RDWR fd of a new file of dir without a name: O_TMPFILE for a file that never had one (or where the
     * name is taken), else created by its old name and unlinked at once.
     */
    private static int create(GhostRecord g, Path dir) throws IOException {
        if (g.tmpfile()) {
            try {
                return FileIo.create(dir.toString(), FileIo.O_TMPFILE | Fd.O_RDWR, 0600);
            } catch (SysException e) {
                if (e.errno() != Errno.EOPNOTSUPP && e.errno() != EISDIR) throw cannot(g, dir, e);
            }
        }
        String name = dir.resolve(g.tmpfile() ? ".cryo-ghost-" + g.ino() : g.name()).toString();
        for (int attempt = 0; ; attempt++) {
            String path = attempt == 0 ? name : name + ".cryo-ghost-" + attempt;
            int fd;
            // journaled before it exists: a cryo killed before the unlink has its janitor unlink it (cryo.janitor)
            cryo.janitor.Journal.intent(path);
            try {
                try {
                    fd = FileIo.create(path, Fd.O_CREAT | Fd.O_EXCL | Fd.O_RDWR | Fd.O_NOFOLLOW, 0600);
                } catch (SysException e) {
                    if (e.errno() == Errno.EEXIST && attempt < 100) continue;   // the old name is someone else's now
                    throw cannot(g, dir, e);
                }
                cryo.janitor.Journal.made(path);
                cryo.sys.KillPoint.reach("restart-ghost-named");
                try {
                    FileIo.unlink(path);
                } catch (SysException e) {
                    Fd.close(fd);
                    throw cannot(g, dir, e);
                }
            } finally {
                cryo.janitor.Journal.gone(path);
            }
            return fd;
        }
    }

    private static IOException cannot(GhostRecord g, Path dir, SysException e) {
        return new IOException("ghost file " + g.path() + ": cannot recreate it in " + dir + ": " + e.getMessage());
    }

    /**
     * files with a FILE record added for each ghost that leads to cryo's fd of it (/proc/self/fd/N): what
     * the restore of descriptions and mappings opens.
     */
    public Map<Integer, FileRecord> files(Map<Integer, FileRecord> files, Map<Integer, GhostRecord> ghosts) {
        if (holders.isEmpty()) return files;
        Map<Integer, FileRecord> all = new HashMap<>(files);
        for (var h : holders.entrySet()) {
            GhostRecord g = ghosts.get(h.getKey());
            all.put(h.getKey(), new FileRecord(g.objref(), "/proc/self/fd/" + h.getValue(), g.dev(), g.ino(), g.mode(), g.size(), g.mtimeNanos(), 0));
        }
        return all;
    }

    /** Closes cryo's fds of the ghosts: the files go away with the last task's fd or mapping of them. */
    @Override
    public void close() {
        for (int fd : holders.values()) Fd.close(fd);
        holders.clear();
    }
}
