package cryo.files;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;

/**
 * EVENTFD: the counter of the eventfd description OPEN_FILE `open_file` (fdinfo eventfd-count) and whether
 * it counts as a semaphore (EFD_SEMAPHORE, fdinfo eventfd-semaphore). {u32 open_file; u32 semaphore; u64 count}.
 */
public record EventfdRecord(int openFile, boolean semaphore, long count) implements EventLoopRecord {
    public RecordType type() {
        return RecordType.EVENTFD;
    }

    public void encode(Encoder e) {
        e.u32(openFile).u32(semaphore ? 1 : 0).u64(count);
    }

    public static EventfdRecord decode(Decoder d) throws ImageException {
        int openFile = d.u32("open_file", 1, Integer.MAX_VALUE);
        boolean semaphore = d.u32("semaphore", 0, 1) == 1;
        long count = d.u64("count");
        // fs/eventfd.c: the counter never reaches ULLONG_MAX (a write that would is refused)
        if (count == -1) throw d.error("count", "is 0xffffffffffffffff, more than an eventfd holds");
        return new EventfdRecord(openFile, semaphore, count);
    }
}
