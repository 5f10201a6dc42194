package cryo.files;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;
import cryo.sys.Inotify;

import java.util.HexFormat;
import java.util.Map;

/**
 * INOTIFY_WATCH: one watch of the inotify instance OPEN_FILE `inotify`, as /proc/PID/fdinfo shows it
 * (fs/notify/fdinfo.c inotify_fdinfo()): its watch descriptor wd, its mask (events, IN_ONESHOT and
 * IN_EXCL_UNLINK: inotify_mark_user_mask()), and the watched inode: FILE `file` (its path at checkpoint, dev
 * and inode) and its file handle (handleType, handle) as name_to_handle_at(2) gives it, which restart opens
 * with open_by_handle_at(2) to be sure it watches that very inode again.
 */
public record InotifyWatchRecord(int inotify, int wd, int mask, int file, int handleType, byte[] handle) implements ImageRecord {
    /** The bits inotify keeps of a watch's mask (INOTIFY_USER_MASK, fs/notify/inotify/inotify.h). */
    public static final int MASK_KEPT = Inotify.IN_ALL_EVENTS | Inotify.IN_ONESHOT | Inotify.IN_EXCL_UNLINK;
    /** MAX_HANDLE_SZ (include/linux/exportfs.h). */
    public static final int MAX_HANDLE_SZ = 128;

    public RecordType type() {
        return RecordType.INOTIFY_WATCH;
    }

    public void encode(Encoder e) {
        e.u32(inotify).u32(wd).u32(mask).u32(file).u32(handleType).bytes(handle);
    }

    public static InotifyWatchRecord decode(Decoder d) throws ImageException {
        int inotify = d.u32("inotify", 1, Integer.MAX_VALUE);
        int wd = d.u32("wd", 1, Integer.MAX_VALUE);
        int mask = d.u32("mask");
        if ((mask & ~MASK_KEPT) != 0) throw d.error("mask", "0x" + Integer.toHexString(mask) + " has bits an inotify watch does not keep (known: 0x" + Integer.toHexString(MASK_KEPT) + ")");
        if ((mask & Inotify.IN_ALL_EVENTS) == 0) throw d.error("mask", "0x" + Integer.toHexString(mask) + " names no event");
        int file = d.u32("file", 1, Integer.MAX_VALUE);
        int handleType = d.u32("handle_type", 1, 0xfe);   // FILEID_INVALID is 0xff
        byte[] handle = d.bytes("handle", MAX_HANDLE_SZ);
        if (handle.length == 0 || handle.length % 4 != 0) throw d.error("handle", "has " + handle.length + " bytes, not a whole number of 32-bit words");
        return new InotifyWatchRecord(inotify, wd, mask, file, handleType, handle);
    }

    /** Its fields for `cryo show`. */
    public void show(Map<String, Object> m) {
        m.put("inotify", inotify);
        m.put("wd", wd);
        m.put("mask", "0x" + Integer.toHexString(mask));
        m.put("file", file);
        m.put("handle_type", "0x" + Integer.toHexString(handleType));
        m.put("handle", HexFormat.of().formatHex(handle));
    }
}
