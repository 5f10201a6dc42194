package cryo.task;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;
import cryo.image.Tree;

/**
 * DELETED_CWD: the current directory of process pid had been removed (/proc/PID/cwd reads "PATH (deleted)"):
 * restart makes an empty directory at path with this mode, owner and times, enters it and removes it again.
 */
public record DeletedCwdRecord(int pid, int mode, int uid, int gid, long atimeNanos, long mtimeNanos, String path) implements ImageRecord, cryo.image.HoldsPids {
    public DeletedCwdRecord withPids(java.util.function.IntUnaryOperator toImage) {
        return new DeletedCwdRecord(toImage.applyAsInt(pid), mode, uid, gid, atimeNanos, mtimeNanos, path);
    }

    public RecordType type() {
        return RecordType.DELETED_CWD;
    }

    public void encode(Encoder e) {
        e.u32(pid).u32(mode).u32(uid).u32(gid).u64(atimeNanos).u64(mtimeNanos).str(path);
    }

    public static DeletedCwdRecord decode(Decoder d) throws ImageException {
        int pid = d.u32("pid", 1, Tree.PID_MAX_LIMIT);
        int mode = d.u32("mode");
        if ((mode & ~07777) != 0040000) throw d.error("mode", "0" + Integer.toOctalString(mode) + " is not a directory's");
        int uid = d.u32("uid"), gid = d.u32("gid");
        long atime = d.u64("atime"), mtime = d.u64("mtime");
        String path = d.str("path");
        if (!path.startsWith("/") || path.equals("/")) throw d.error("path", "'" + path + "' is not an absolute path below /");
        return new DeletedCwdRecord(pid, mode, uid, gid, atime, mtime, path);
    }
}
