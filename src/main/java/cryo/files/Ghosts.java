package cryo.files;

import cryo.image.ImageWriter;
import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.SysException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The ghost files of a checkpoint (CRIU's term): regular files open or mapped by the tree that no name leads
 * to any more. Each is recorded once, by inode, the first time an fd or mapping of it is met: a GHOST record,
 * then its data extents as GHOST_DATA records read through the /proc link it was met by (checkpoint never
 * changes the file system). A deleted file that still has another name (st_nlink > 0) is not a ghost: it is
 * reopened by that name if its own directory holds one (one readdir), and refused otherwise.
 */
public final class Ghosts {
    static final String DELETED = " (deleted)";

    /** A ghost met so far, the /proc link to read it through, and its data extents. */
    private record Ghost(GhostRecord record, Path source, List<FileData.Extent> extents) {
    }

    private final Map<String, Ghost> byInode = new LinkedHashMap<>();
    private final FileTable table;
    private long limit = Long.MAX_VALUE;

    Ghosts(FileTable table) {
        this.table = table;
    }

    /** checkpoint --ghost-limit: a ghost file larger than this many bytes is refused. */
    public void limit(long bytes) {
        this.limit = bytes;
    }

    /** True for the link text of a deleted file (not a memfd, which is a kind of its own). */
    static boolean deleted(String link) {
        return link.startsWith("/") && link.endsWith(DELETED) && !link.startsWith("/memfd:");
    }

    /**
     * The name by which a deleted file with other links can be reopened: an entry of its old directory with
     * its device and inode; null when it has no links left (a ghost). Refuses one with links elsewhere.
     */
    static String otherName(int pid, Path link, String text, String what) throws Refusal, IOException {
        Map<String, Object> a = attributes(pid, link, text, what);
        int nlink = (Integer) a.get("nlink");
        if (nlink == 0) return null;
        String path = text.substring(0, text.length() - DELETED.length());
        Path dir = Path.of(path).getParent();
        // listed as the task sees it (a container's mounts and root), named as the task names it
        try (var s = Files.list(Path.of(cryo.ns.Root.of(pid).path(dir.toString())))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                try {
                    Map<String, Object> b = Files.readAttributes(p, "unix:dev,ino", LinkOption.NOFOLLOW_LINKS);
                    if (b.get("dev").equals(a.get("dev")) && b.get("ino").equals(a.get("ino"))) return dir.resolve(p.getFileName()).toString();
                } catch (IOException e) {
                    // gone meanwhile: not the one
                }
            }
        } catch (IOException e) {
            // its directory is gone too
        }
        throw new Refusal(pid, what + " is " + text + ", which still has " + nlink + " other link(s), none of them in "
                + dir + ": not supported (cryo reopens such a file by a name in its own directory)");
    }

    /** The GHOST record of the deleted file that link (/proc/PID/fd/N or map_files) leads to, made once per inode. */
    GhostRecord ref(int pid, Path link, String text, String what) throws Refusal, IOException {
        Map<String, Object> a = attributes(pid, link, text, what);
        String key = a.get("dev") + ":" + a.get("ino");
        Ghost known = byInode.get(key);
        if (known != null) return known.record();
        int mode = (Integer) a.get("mode");
        long size = (Long) a.get("size");
        if ((mode & FileRecord.S_IFMT) != FileRecord.S_IFREG) throw new Refusal(pid, what + " is " + text + ", a deleted file that is not a regular file: not supported");
        if (size > limit) throw new Refusal(pid, what + " is " + text + ", a deleted file of " + size + " bytes, above --ghost-limit " + limit);
        String path = text.substring(0, text.length() - DELETED.length());
        long ino = (Long) a.get("ino");
        boolean tmpfile = path.endsWith("/#" + ino);
        List<FileData.Extent> extents;
        int fd = -1;
        try {
            fd = Fd.open(link.toString(), Fd.O_RDONLY);
            extents = FileData.extents(fd, size, text);
        } catch (SysException e) {
            throw new Refusal(pid, what + " is " + text + ": cannot read the deleted file: " + e.getMessage());
        } finally {
            if (fd >= 0) Fd.close(fd);
        }
        GhostRecord g = new GhostRecord(table.nextObjref(), tmpfile, mode, (Integer) a.get("uid"), (Integer) a.get("gid"), size,
                FileData.bytes(extents), nanos(a.get("lastAccessTime")), nanos(a.get("lastModifiedTime")),
                (Long) a.get("dev"), ino, path);
        byInode.put(key, new Ghost(g, link, extents));
        return g;
    }

    /** The number of ghost files and the bytes of data the image holds for them. */
    public long[] totals() {
        long bytes = 0;
        for (Ghost g : byInode.values()) bytes += g.record().dataBytes();
        return new long[]{byInode.size(), bytes};
    }

    /**
     * Writes each ghost's GHOST record and its data, streamed in batches of FileData.BATCH bytes (one
     * GHOST_DATA record each); the tree is still frozen, so the /proc links still lead to the files.
     */
    public void write(ImageWriter w) throws IOException {
        for (Ghost g : byInode.values()) {
            w.write(g.record());
            int fd = -1;
            try {
                fd = Fd.open(g.source().toString(), Fd.O_RDONLY);
                FileData.read(fd, g.extents(), g.record().path() + DELETED, (off, data) -> w.write(GhostDataRecord.of(g.record().objref(), off, data)));
            } catch (SysException e) {
                throw new IOException("ghost file " + g.record().path() + ": " + e.getMessage(), e);
            } finally {
                if (fd >= 0) Fd.close(fd);
            }
        }
    }

    private static Map<String, Object> attributes(int pid, Path link, String text, String what) throws Refusal, IOException {
        try {
            return Files.readAttributes(link, "unix:dev,ino,mode,uid,gid,size,nlink,lastAccessTime,lastModifiedTime");
        } catch (NoSuchFileException e) {
            throw new Refusal(pid, what + ": " + text + " vanished during checkpoint");
        }
    }

    private static long nanos(Object time) {
        return ((FileTime) time).to(TimeUnit.NANOSECONDS);
    }

    /** For messages: "3 ghost files, 12288 bytes of data". */
    public static String describe(long files, long bytes) {
        return files + " ghost file" + (files == 1 ? "" : "s") + ", " + bytes + " bytes of data";
    }

    /** The inode of the ghost objref. */
    long inode(int objref) {
        for (Ghost g : byInode.values()) if (g.record().objref() == objref) return g.record().ino();
        return -1;
    }
}
