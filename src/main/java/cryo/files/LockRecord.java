package cryo.files;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;
import cryo.image.Tree;

/**
 * LOCK: a file lock the tree held, taken again at restart by task `pid` through one of its fds of the
 * description `openFile` (fs/locks.c). POSIX record locks belong to the process (pid is their owner); OFD
 * locks and flock() locks belong to the description, and pid is a task of the tree that holds it. A range
 * is [start, start+len), len 0 reaching to the end of file as in struct flock; a flock lock covers the
 * whole file (start and len 0). write: F_WRLCK / LOCK_EX, else F_RDLCK / LOCK_SH.
 */
public record LockRecord(int pid, Kind kind, int openFile, boolean write, long start, long len) implements ImageRecord, cryo.image.HoldsPids {
    public enum Kind {POSIX, OFD, FLOCK}

    public LockRecord withPids(java.util.function.IntUnaryOperator toImage) {
        return new LockRecord(toImage.applyAsInt(pid), kind, openFile, write, start, len);
    }

    public RecordType type() {
        return RecordType.LOCK;
    }

    /** "bytes 100-199", "bytes 100-EOF", or "the whole file" for flock. */
    public String range() {
        if (kind == Kind.FLOCK) return "the whole file";
        return range(start, len);
    }

    static String range(long start, long len) {
        return "bytes " + start + "-" + (len == 0 ? "EOF" : Long.toString(start + len - 1));
    }

    /** "POSIX write lock", "OFD read lock", "flock exclusive lock". */
    public String what() {
        return switch (kind) {
            case POSIX -> "POSIX " + (write ? "write" : "read") + " lock";
            case OFD -> "OFD " + (write ? "write" : "read") + " lock";
            case FLOCK -> "flock " + (write ? "exclusive" : "shared") + " lock";
        };
    }

    public void encode(Encoder e) {
        e.u32(pid).u32(kind.ordinal()).u32(openFile).u32(write ? 1 : 0).u64(start).u64(len);
    }

    public static LockRecord decode(Decoder d) throws ImageException {
        int pid = d.u32("pid", 1, Tree.PID_MAX_LIMIT);
        Kind kind = Kind.values()[d.u32("kind", 0, Kind.values().length - 1)];
        int ref = d.u32("open_file", 1, Integer.MAX_VALUE);
        boolean write = d.u32("write", 0, 1) == 1;
        long start = d.u64("start");
        long len = d.u64("len");
        if (start < 0) throw d.error("start", "is negative");
        if (len < 0) throw d.error("len", "is negative");
        // fs/locks.c flock_to_posix_lock(): the last byte start+len-1 must not pass OFFSET_MAX
        if (len > 0 && start > Long.MAX_VALUE - (len - 1)) throw d.error("len", "is " + len + ": the range from " + start + " runs past the largest offset");
        if (kind == Kind.FLOCK && (start != 0 || len != 0)) throw d.error("start", "of a flock lock must be 0 with len 0 (the whole file)");
        return new LockRecord(pid, kind, ref, write, start, len);
    }
}
