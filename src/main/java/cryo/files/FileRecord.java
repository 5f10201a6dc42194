package cryo.files;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;

/**
 * FILE: a file on disk the image refers to (a mapped library, the executable, an open file), named once by
 * its objref. Restart checks that the path still names the same file: same inode and device, and for
 * mapped files the same size and mtime (for every file, with ctime too, when the tree held file locks:
 * OpenFiles.verify). host: the file of a container's task lies outside the container's root, on cryo's side
 * (cryo run -d's /dev/null, stdio a --root container inherited): its path is cryo's, not the container's.
 */
public record FileRecord(int objref, String path, long dev, long ino, int mode, long size, long mtimeNanos, long ctimeNanos,
                         boolean host) implements ImageRecord {
    private static final int FLAG_HOST = 1;

    public FileRecord(int objref, String path, long dev, long ino, int mode, long size, long mtimeNanos, long ctimeNanos) {
        this(objref, path, dev, ino, mode, size, mtimeNanos, ctimeNanos, false);
    }

    public static final int S_IFMT = 0170000, S_IFREG = 0100000, S_IFDIR = 0040000, S_IFCHR = 0020000, S_IFIFO = 0010000;

    public RecordType type() {
        return RecordType.FILE;
    }

    public boolean regular() {
        return (mode & S_IFMT) == S_IFREG;
    }

    public boolean directory() {
        return (mode & S_IFMT) == S_IFDIR;
    }

    public boolean fifo() {
        return (mode & S_IFMT) == S_IFIFO;
    }

    public boolean charDevice() {
        return (mode & S_IFMT) == S_IFCHR;
    }

    public void encode(Encoder e) {
        e.u32(objref).u32(mode).u64(dev).u64(ino).u64(size).u64(mtimeNanos).u64(ctimeNanos).u32(host ? FLAG_HOST : 0).str(path);
    }

    public static FileRecord decode(Decoder d) throws ImageException {
        int objref = d.u32("objref", 1, Integer.MAX_VALUE);
        int mode = d.u32("mode");
        int fmt = mode & S_IFMT;
        if (fmt != S_IFREG && fmt != S_IFDIR && fmt != S_IFCHR && fmt != S_IFIFO) throw d.error("mode", "0" + Integer.toOctalString(mode) + " is not a regular file, directory, character device or FIFO");
        long dev = d.u64("dev"), ino = d.u64("ino"), size = d.u64("size"), mtime = d.u64("mtime"), ctime = d.u64("ctime");
        int flags = d.u32("flags");
        if ((flags & ~FLAG_HOST) != 0) throw d.error("flags", "0x" + Integer.toHexString(flags) + " has unknown bits");
        String path = d.str("path");
        if (!path.startsWith("/")) throw d.error("path", "'" + path + "' is not absolute");
        return new FileRecord(objref, path, dev, ino, mode, size, mtime, ctime, (flags & FLAG_HOST) != 0);
    }
}
