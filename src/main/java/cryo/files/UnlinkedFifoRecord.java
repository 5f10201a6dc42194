package cryo.files;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;

/**
 * UNLINKED_FIFO: a FIFO opened by the tree and removed from its directory since ("/dir/f (deleted)"), saved
 * once and named by objref from its FIFO_UNLINKED descriptions; its buffer is PIPE `pipe`. path is where it
 * was (restart makes it there again for a moment); mode, uid and gid are what fstat shows.
 */
public record UnlinkedFifoRecord(int objref, int pipe, int mode, int uid, int gid, String path) implements ImageRecord {
    public RecordType type() {
        return RecordType.UNLINKED_FIFO;
    }

    public void encode(Encoder e) {
        e.u32(objref).u32(pipe).u32(mode).u32(uid).u32(gid).str(path);
    }

    public static UnlinkedFifoRecord decode(Decoder d) throws ImageException {
        int objref = d.u32("objref", 1, Integer.MAX_VALUE);
        int pipe = d.u32("pipe", 1, Integer.MAX_VALUE);
        int mode = d.u32("mode");
        if ((mode & ~07777) != FileRecord.S_IFIFO) throw d.error("mode", "0" + Integer.toOctalString(mode) + " is not a FIFO's");
        int uid = d.u32("uid"), gid = d.u32("gid");
        String path = d.str("path");
        if (!path.startsWith("/") || path.endsWith("/")) throw d.error("path", "'" + path + "' is not an absolute path of a file");
        return new UnlinkedFifoRecord(objref, pipe, mode, uid, gid, path);
    }
}
