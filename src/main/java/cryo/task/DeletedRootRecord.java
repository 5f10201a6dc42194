package cryo.task;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;
import cryo.image.Tree;

/**
 * DELETED_ROOT: the root directory of process pid had been removed, and it is the same directory as its
 * deleted cwd (the DELETED_CWD before it): restart chroots the task into the directory it makes for its cwd.
 */
public record DeletedRootRecord(int pid) implements ImageRecord, cryo.image.HoldsPids {
    public DeletedRootRecord withPids(java.util.function.IntUnaryOperator toImage) {
        return new DeletedRootRecord(toImage.applyAsInt(pid));
    }

    public RecordType type() {
        return RecordType.DELETED_ROOT;
    }

    public void encode(Encoder e) {
        e.u32(pid);
    }

    public static DeletedRootRecord decode(Decoder d) throws ImageException {
        return new DeletedRootRecord(d.u32("pid", 1, Tree.PID_MAX_LIMIT));
    }
}
