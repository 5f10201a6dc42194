package cryo.image;

import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Checks the data of an image's PayloadRecords against their CRCs for a restart that reads with
 * ImageReader.Data.LATER. A background thread starts on them in image order at once, while the restart
 * is busy on one core with things that do not need the data (linking its native calls, creating the
 * tree); whoever copies a record's data calls verify(), which checks it then unless the background
 * thread already has. A record that fails is never marked checked, so its user finds the mismatch.
 * A user about to copy many records on threads of its own claims them first: the background thread
 * leaves them alone, so that it neither competes with those threads for the CPUs nor reads the data
 * from memory a second time (each is checked just before its copy, while it is in cache).
 */
public final class DataCheck implements AutoCloseable {
    private final Set<PayloadRecord> checked = ConcurrentHashMap.newKeySet();
    private final Set<PayloadRecord> claimed = ConcurrentHashMap.newKeySet();
    private volatile boolean stop;
    private final Thread thread;

    private DataCheck(List<? extends PayloadRecord> payloads) {
        thread = Thread.ofPlatform().name("cryo-data-check").daemon().unstarted(() -> {
            for (PayloadRecord p : payloads) {
                if (stop) return;
                if (claimed.contains(p)) continue;
                try {
                    if (checked.contains(p.checked())) continue;
                    p.verify();
                } catch (ImageException e) {
                    return;                 // the copy of this record reports it
                }
                checked.add(p.checked());
            }
        });
    }

    /** Starts checking payloads in the background. */
    public static DataCheck start(List<? extends PayloadRecord> payloads) {
        DataCheck c = new DataCheck(payloads);
        if (!payloads.isEmpty()) c.thread.start();
        return c;
    }

    /** From now on the background thread skips these records: the caller verifies each before it copies it. */
    public void claim(List<? extends PayloadRecord> records) {
        claimed.addAll(records);
    }

    /** Fails when p's data do not match its CRC; returns at once if the background thread found they do. */
    public void verify(PayloadRecord p) throws ImageException {
        // a piece of a pre-copied record is checked as that whole record (PayloadRecord.checked)
        if (checked.contains(p.checked())) return;
        p.verify();
        checked.add(p.checked());
    }

    /** Stops the background thread and waits for it to finish the record it is on: the image may be unmapped next. */
    @Override
    public void close() {
        stop = true;
        boolean interrupted = false;
        while (thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }
}
