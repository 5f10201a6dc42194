package cryo.mounts;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Mount records that break a rule, field by field and across records: one line naming the record and field. */
class MountsBadImageTest {
    private static final MountRecord TMPFS = new MountRecord(7, 0, MountRecord.Kind.FS, false, cryo.sys.Mount.MS_NOSUID, 0, 2, 5,
            "/data", "tmpfs", "t", "size=1m");

    private static MemorySegment body(MountsRecord r) {
        Encoder e = new Encoder();
        r.encode(e);
        return MemorySegment.ofBuffer(e.finish());
    }

    private static String decodeError(MountsRecord r, String name) {
        return assertThrows(ImageException.class, () -> {
            Decoder d = new Decoder(body(r), name);
            switch (r) {
                case MountRecord m -> MountRecord.decode(d);
                case TmpfsFileRecord f -> TmpfsFileRecord.decode(d);
                case MountGoneRecord g -> MountGoneRecord.decode(d);
                case TmpfsDataRecord x -> throw new AssertionError();
            }
            d.end();
        }).getMessage();
    }

    private static TmpfsFileRecord file(int index, TmpfsFileRecord.Kind kind, String path, String target, long size, long bytes) {
        return new TmpfsFileRecord(7, index, kind, 0644, 0, 0, size, bytes, 0, 0, path, target);
    }

    @Test
    void fieldsAreCheckedOneByOne() {
        assertEquals("record MOUNT #0: field 'fs_type' 'ext4' is not one cryo makes (devpts, mqueue, proc, sysfs, tmpfs)",
                decodeError(new MountRecord(1, 0, MountRecord.Kind.FS, false, 0, 0, 0, 0, "/a", "ext4", "/dev/vda", ""), "MOUNT #0"));
        assertEquals("record MOUNT #0: field 'mount_point' 'a/../b' is not a normal absolute path",
                decodeError(new MountRecord(1, 0, MountRecord.Kind.BIND, false, 0, 0, 0, 0, "a/../b", "ext4", "/srv", ""), "MOUNT #0"));
        assertEquals("record MOUNT #0: field 'flags' has unknown bits 0x40",
                decodeError(new MountRecord(1, 0, MountRecord.Kind.BIND, false, 0x40, 0, 0, 0, "/a", "ext4", "/srv", ""), "MOUNT #0"));
        assertEquals("record MOUNT #0: field 'mount_point' of a ROOT is '/a', not /",
                decodeError(new MountRecord(1, 0, MountRecord.Kind.ROOT, false, 0, 0, 0, 0, "/a", "ext4", "/srv", ""), "MOUNT #0"));
        assertEquals("record MOUNT #0: field 'tmpfs_files' is 3 (10 bytes) for a mount that is no tmpfs",
                decodeError(new MountRecord(1, 0, MountRecord.Kind.FS, false, 0, 0, 3, 10, "/p", "proc", "proc", ""), "MOUNT #0"));
        assertEquals("record TMPFS_FILE #0: field 'path' '../etc' is not a normal relative path",
                decodeError(file(1, TmpfsFileRecord.Kind.DIR, "../etc", "", 0, 0), "TMPFS_FILE #0"));
        assertEquals("record TMPFS_FILE #0: field 'data_bytes' is 9 for a size of 4",
                decodeError(file(1, TmpfsFileRecord.Kind.FILE, "f", "", 4, 9), "TMPFS_FILE #0"));
        assertEquals("record MOUNT_GONE #0: field 'mount_point' '/' is not a normal absolute path other than /",
                decodeError(new MountGoneRecord("/"), "MOUNT_GONE #0"));
    }

    private static String collectError(List<ImageRecord> records) {
        return assertThrows(ImageException.class, () -> MountsImage.of(records)).getMessage();
    }

    @Test
    void recordsAreCheckedAcrossEachOther() {
        TmpfsFileRecord root = file(1, TmpfsFileRecord.Kind.DIR, "", "", 0, 0);
        assertEquals("record TMPFS_FILE #0: field 'mount' names mount 7, which no tmpfs MOUNT record before it has",
                collectError(List.of(root, TMPFS)));
        assertEquals("record TMPFS_FILE #1: the directory of 'a/b' has no TMPFS_FILE record before it",
                collectError(List.of(TMPFS, root, file(2, TmpfsFileRecord.Kind.FILE, "a/b", "", 5, 5))));
        assertEquals("record TMPFS_FILE #1: field 'target' 'x' is no FILE before it in mount 7",
                collectError(List.of(TMPFS, root, file(2, TmpfsFileRecord.Kind.HARDLINK, "h", "x", 0, 0))));
        assertEquals("record TMPFS_DATA #0: data at offset 2 run past the end of TMPFS_FILE 2 (FILE 'f' of mount 7) (5 bytes)",
                collectError(List.of(TMPFS, root, file(2, TmpfsFileRecord.Kind.FILE, "f", "", 5, 5),
                        TmpfsDataRecord.of(2, 2, MemorySegment.ofArray(new byte[8])))));
        assertEquals("record MOUNT " + TMPFS.describe() + ": the image holds 2 entries and 0 bytes of it, fields 'tmpfs_files' and 'tmpfs_bytes' say 2 and 5",
                collectError(List.of(TMPFS, root, file(2, TmpfsFileRecord.Kind.FILE, "f", "", 5, 0))));
        assertEquals("record MOUNT #1: field 'parent' names mount 3, which no MOUNT record before it has",
                collectError(List.of(TMPFS, new MountRecord(8, 3, MountRecord.Kind.FS, false, 0, 0, 0, 0, "/data/p", "proc", "proc", ""))));
        assertEquals("record MOUNT #1: field 'source_mount' names mount 9, which no FS MOUNT record before it has",
                collectError(List.of(TMPFS, new MountRecord(8, 0, MountRecord.Kind.BIND_INSIDE, false, 0, 9, 0, 0, "/b", "tmpfs", "/x", ""))));
    }
}
