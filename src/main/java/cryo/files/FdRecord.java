package cryo.files;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;
import cryo.image.Tree;

/** FD: one entry of a task's fd table: number, the objref of its OPEN_FILE, close-on-exec. */
public record FdRecord(int pid, int fd, int openFile, boolean cloexec) implements ImageRecord, cryo.image.HoldsPids {
    /** fs.nr_open's ceiling (include/linux/fs.h NR_OPEN max). */
    public static final int NR_OPEN_MAX = 1 << 20;

    public FdRecord withPids(java.util.function.IntUnaryOperator toImage) {
        return new FdRecord(toImage.applyAsInt(pid), fd, openFile, cloexec);
    }

    public RecordType type() {
        return RecordType.FD;
    }

    public void encode(Encoder e) {
        e.u32(pid).u32(fd).u32(openFile).u32(cloexec ? 1 : 0);
    }

    public static FdRecord decode(Decoder d) throws ImageException {
        int pid = d.u32("pid", 1, Tree.PID_MAX_LIMIT);
        int fd = d.u32("fd", 0, NR_OPEN_MAX - 1);
        int ref = d.u32("open_file", 1, Integer.MAX_VALUE);
        boolean cloexec = d.u32("cloexec", 0, 1) == 1;
        return new FdRecord(pid, fd, ref, cloexec);
    }
}
