package cryo.files;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;

/**
 * GHOST: a regular file no name leads to any more (CRIU's ghost file): deleted while open or mapped, or made
 * with O_TMPFILE. Its contents follow in GHOST_DATA records (only the data extents, in order, dataBytes in
 * all); restart recreates it in the directory of `path` (or --ghost-dir), refills it, gives it its mode,
 * owner and times, and takes its name away again. path is the link text without " (deleted)"; for an
 * O_TMPFILE file it is "DIR/#INODE".
 */
public record GhostRecord(int objref, boolean tmpfile, int mode, int uid, int gid, long size, long dataBytes,
                          long atimeNanos, long mtimeNanos, long dev, long ino, String path) implements ImageRecord {
    private static final int FLAG_TMPFILE = 1;
    /** The permission bits chmod(2) sets: rwx for all three, setuid, setgid, sticky. */
    public static final int PERMISSIONS = 07777;

    public RecordType type() {
        return RecordType.GHOST;
    }

    /** The directory the file was in: where restart recreates it. */
    public String directory() {
        int slash = path.lastIndexOf('/');
        return slash == 0 ? "/" : path.substring(0, slash);
    }

    /** The file's own name in its directory. */
    public String name() {
        return path.substring(path.lastIndexOf('/') + 1);
    }

    public void encode(Encoder e) {
        e.u32(objref).u32(tmpfile ? FLAG_TMPFILE : 0).u32(mode).u32(uid).u32(gid).u32(0)
                .u64(size).u64(dataBytes).u64(atimeNanos).u64(mtimeNanos).u64(dev).u64(ino).str(path);
    }

    public static GhostRecord decode(Decoder d) throws ImageException {
        int objref = d.u32("objref", 1, Integer.MAX_VALUE);
        int flags = d.u32("flags", 0, FLAG_TMPFILE);
        int mode = d.u32("mode");
        if ((mode & FileRecord.S_IFMT) != FileRecord.S_IFREG || (mode & ~(FileRecord.S_IFMT | PERMISSIONS)) != 0) {
            throw d.error("mode", "0" + Integer.toOctalString(mode) + " is not the mode of a regular file");
        }
        int uid = d.u32("uid"), gid = d.u32("gid");
        d.u32("pad", 0, 0);
        long size = d.u64("size"), dataBytes = d.u64("data_bytes");
        if (size < 0) throw d.error("size", "is negative");
        if (dataBytes < 0 || dataBytes > size) throw d.error("data_bytes", dataBytes + " is not between 0 and the size " + size);
        long atime = d.u64("atime"), mtime = d.u64("mtime"), dev = d.u64("dev"), ino = d.u64("ino");
        String path = d.str("path");
        if (!path.startsWith("/") || path.endsWith("/") || path.contains("\0")) throw d.error("path", "'" + path + "' is not an absolute path of a file");
        return new GhostRecord(objref, flags == FLAG_TMPFILE, mode, uid, gid, size, dataBytes, atime, mtime, dev, ino, path);
    }
}
