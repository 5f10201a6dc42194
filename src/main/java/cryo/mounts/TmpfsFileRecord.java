package cryo.mounts;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;

/**
 * TMPFS_FILE: one entry of a tmpfs made in the container, after its MOUNT, parents before children.
 * {u32 mount; u32 index; u32 kind; u32 mode; u32 uid; u32 gid; u64 size; u64 data_bytes; u64 atime_ns;
 * u64 mtime_ns; str path; str target}. index numbers the entries of the image from 1 (TMPFS_DATA names it);
 * path is relative to the mount's root ("" is the root itself); target is a SYMLINK's contents or the path of
 * the FILE a HARDLINK shares its inode with. A FILE's data follow it as TMPFS_DATA records.
 */
public record TmpfsFileRecord(int mount, int index, Kind kind, int mode, int uid, int gid, long size, long dataBytes,
                              long atimeNanos, long mtimeNanos, String path, String target) implements MountsRecord {
    public enum Kind { DIR, FILE, SYMLINK, FIFO, HARDLINK }

    public RecordType type() {
        return RecordType.TMPFS_FILE;
    }

    public String describe() {
        return "TMPFS_FILE " + index + " (" + kind + " '" + path + "' of mount " + mount + ")";
    }

    public void encode(Encoder e) {
        e.u32(mount).u32(index).u32(kind.ordinal()).u32(mode).u32(uid).u32(gid).u64(size).u64(dataBytes).u64(atimeNanos).u64(mtimeNanos);
        e.str(path).str(target);
    }

    public static TmpfsFileRecord decode(Decoder d) throws ImageException {
        int mount = d.u32("mount", 1, Integer.MAX_VALUE);
        int index = d.u32("index", 1, Integer.MAX_VALUE);
        Kind kind = Kind.values()[d.u32("kind", 0, Kind.values().length - 1)];
        int mode = d.u32("mode", 0, 07777);
        int uid = d.u32("uid");
        int gid = d.u32("gid");
        long size = d.u64("size");
        long dataBytes = d.u64("data_bytes");
        long atime = d.u64("atime_ns");
        long mtime = d.u64("mtime_ns");
        String path = d.str("path");
        String target = d.str("target");
        if (!MountPaths.relative(path)) throw d.error("path", "'" + path + "' is not a normal relative path");
        if (path.isEmpty() && kind != Kind.DIR) throw d.error("path", "is the root of the tmpfs, but the entry is a " + kind);
        if (size < 0 || dataBytes < 0 || dataBytes > size) throw d.error("data_bytes", "is " + dataBytes + " for a size of " + size);
        if (kind != Kind.FILE && dataBytes != 0) throw d.error("data_bytes", "is " + dataBytes + " for a " + kind);
        switch (kind) {
            case SYMLINK -> {
                if (target.isEmpty() || target.indexOf('\0') >= 0) throw d.error("target", "is not a symlink's contents");
            }
            case HARDLINK -> {
                if (!MountPaths.relative(target) || target.isEmpty()) throw d.error("target", "'" + target + "' is not a normal relative path");
            }
            default -> {
                if (!target.isEmpty()) throw d.error("target", "is set for a " + kind);
            }
        }
        return new TmpfsFileRecord(mount, index, kind, mode, uid, gid, size, dataBytes, atime, mtime, path, target);
    }
}
