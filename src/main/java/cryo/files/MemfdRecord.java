package cryo.files;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;

/**
 * MEMFD: one memfd (mm/memfd.c), saved once however many fds and mappings of the tree lead to it and named by
 * objref from the OPEN_FILE and VMA records that use it. Its contents follow as MEMFD_DATA records (only
 * its data extents), dataBytes in all; seals is F_GET_SEALS (F_SEAL_SEAL when it was created without
 * MFD_ALLOW_SEALING, F_SEAL_EXEC with MFD_NOEXEC_SEAL); mode, uid and gid are what fstat shows.
 */
public record MemfdRecord(int objref, String name, long inode, long size, long dataBytes, int seals, int mode, int uid, int gid)
        implements ImageRecord {
    public static final int F_SEAL_SEAL = 1, F_SEAL_SHRINK = 2, F_SEAL_GROW = 4, F_SEAL_WRITE = 8, F_SEAL_FUTURE_WRITE = 0x10,
            F_SEAL_EXEC = 0x20, SEALS_KNOWN = 0x3f;
    /** MFD_NAME_MAX_LEN (mm/memfd.c): NAME_MAX less "memfd:". */
    public static final int NAME_MAX = 249;

    public RecordType type() {
        return RecordType.MEMFD;
    }

    /** "memfd:NAME" as /proc shows it, without " (deleted)". */
    public String describe() {
        return "memfd:" + name;
    }

    public void encode(Encoder e) {
        e.u32(objref).u32(seals).u32(mode).u32(uid).u32(gid).u64(inode).u64(size).u64(dataBytes).str(name);
    }

    public static MemfdRecord decode(Decoder d) throws ImageException {
        int objref = d.u32("objref", 1, Integer.MAX_VALUE);
        int seals = d.u32("seals");
        if ((seals & ~SEALS_KNOWN) != 0) throw d.error("seals", "0x" + Integer.toHexString(seals) + " has bits no seal has (known: 0x" + Integer.toHexString(SEALS_KNOWN) + ")");
        int mode = d.u32("mode");
        if ((mode & ~07777) != FileRecord.S_IFREG) throw d.error("mode", "0" + Integer.toOctalString(mode) + " is not a regular file's");
        int uid = d.u32("uid"), gid = d.u32("gid");
        long inode = d.u64("inode"), size = d.u64("size"), dataBytes = d.u64("data_bytes");
        if (size < 0) throw d.error("size", "is negative");
        if (dataBytes < 0 || dataBytes > size) throw d.error("data_bytes", dataBytes + " is more than the size " + size);
        String name = d.str("name");
        if (name.length() > NAME_MAX || name.indexOf('/') >= 0 || name.indexOf('\0') >= 0) throw d.error("name", "'" + name + "' is not a memfd name");
        return new MemfdRecord(objref, name, inode, size, dataBytes, seals, mode, uid, gid);
    }
}
