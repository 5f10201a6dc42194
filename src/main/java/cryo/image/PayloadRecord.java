package cryo.image;

import java.lang.foreign.MemorySegment;

/**
 * A record that carries bulk data (page contents) after a 16-byte header whose second u32 is the CRC32C of
 * that data. The TAIL checksum covers every byte of the stream except these data, so a reader can check
 * all the metadata before creating anything and each record's data where it uses it, on the thread that
 * copies it, while it is in cache (the restart does: PageLoad.load, Ipc.restore).
 */
public sealed interface PayloadRecord extends ImageRecord permits cryo.memory.PagesRecord, cryo.ipc.ShmPagesRecord,
        cryo.memory.ShmemPagesRecord, cryo.files.FileData.Chunk,
        cryo.precopy.PreCopyPagesRecord {
    /** Bytes of the record body before the data: {u32 a; u32 crc32c; u64 b}. */
    int HEADER = 16;

    MemorySegment data();

    /**
     * True when nothing writes data() while the image is written (a buffer of cryo's own): the writer then
     * sends it as it is instead of snapshotting it first.
     */
    default boolean stable() {
        return false;
    }

    /** CRC32C of data() as the image states it. */
    int crc();

    /** Names the record in errors: "PAGES of task 12 at 0x7f0000000000". */
    String describe();

    /** The record whose CRC covers these data: this one (a piece of a pre-copied record names its source). */
    default PayloadRecord checked() {
        return this;
    }

    /** Fails when data() does not match crc(). */
    default void verify() throws ImageException {
        if (Crc32c.of(data()) != crc()) {
            throw new ImageException("record " + describe() + ": the data do not match their CRC32C: the image is corrupted");
        }
    }

    static boolean is(int typeCode) {
        return typeCode == RecordType.PAGES.code || typeCode == RecordType.SHM_PAGES.code
                || typeCode == RecordType.SHMEM_PAGES.code || typeCode == RecordType.GHOST_DATA.code
                || typeCode == RecordType.MEMFD_DATA.code
                || typeCode == RecordType.TMPFS_DATA.code
                || typeCode == RecordType.PRECOPY_PAGES.code;
    }
}
