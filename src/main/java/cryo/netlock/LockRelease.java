package cryo.netlock;

import cryo.image.Decoder;
import cryo.image.Head;
import cryo.image.ImageException;
import cryo.image.RecordType;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.function.Consumer;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;

/**
 * cryo restart's side of the lock: the NET_LOCK record is read from the mapped image before anything else of
 * it is checked (it follows HEAD), so that a restart that fails for any reason — a truncated or corrupted
 * image, a refusal, a failure half way — still lifts the lock on close. A successful restart lifts it before
 * (NetworkLock.lift from Restart); close then has nothing left to do.
 */
public final class LockRelease implements AutoCloseable {
    private final NetLockRecord record;
    private final Consumer<String> log;
    private final Thread sweep;

    private LockRelease(NetLockRecord record, Consumer<String> log, Thread sweep) {
        this.record = record;
        this.log = log;
        this.sweep = sweep;
    }

    /**
     * Finds the image's lock (none if it has no valid NET_LOCK), and starts the sweep of the tables of killed
     * checkpoints beside the restart (close waits for it).
     */
    public static LockRelease of(MemorySegment image, Consumer<String> log) throws IOException {
        NetLockRecord record = early(image);
        // journaled: a restart killed before it lifts the lock has its janitor lift it
        if (record != null) cryo.janitor.Journal.add(new cryo.janitor.Entry.HeldLock(record.table()));
        return new LockRelease(record, log, NetworkLock.sweepInBackground(null, log));
    }

    /** The table to lift, or null. */
    public String table() {
        return record == null ? null : record.table();
    }

    @Override
    public void close() throws IOException {
        try {
            NetworkLock.lift(record, log);
        } finally {
            NetworkLock.join(sweep);
        }
    }

    /**
     * MAGIC, HEAD, then NET_LOCK if the checkpoint took a lock. A record that does not decode is left to the
     * full read to report: nothing is lifted on its word.
     */
    public static NetLockRecord early(MemorySegment image) {
        long size = image.byteSize(), pos = Head.MAGIC.length;
        for (int i = 0; i < 2 && pos + 8 <= size; i++) {
            int type = image.get(JAVA_INT_UNALIGNED, pos);
            long len = Integer.toUnsignedLong(image.get(JAVA_INT_UNALIGNED, pos + 4));
            if (pos + 8 + len > size) return null;
            if (i == 0 && type != RecordType.HEAD.code) return null;
            if (i == 1) {
                if (type != RecordType.NET_LOCK.code) return null;
                try {
                    Decoder d = new Decoder(image.asSlice(pos + 8, len), "NET_LOCK");
                    NetLockRecord r = NetLockRecord.decode(d);
                    d.end();
                    return r;
                } catch (ImageException e) {
                    return null;
                }
            }
            pos += 8 + ((len + 7) & ~7L);
        }
        return null;
    }
}
