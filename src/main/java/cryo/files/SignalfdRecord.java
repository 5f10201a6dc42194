package cryo.files;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;

/**
 * SIGNALFD: the signals a signalfd (signalfd(2)) reads, as fdinfo's sigmask shows them (bit n-1 for signal n),
 * named by objref from its SIGNALFD descriptions (OPEN_FILE field 'file'). The signals themselves stay
 * pending in the tasks (TASK and THREAD records): a signalfd reads whatever is pending for its reader.
 */
public record SignalfdRecord(int objref, long sigmask) implements ImageRecord {
    /** SIGKILL and SIGSTOP, which signalfd4 drops from any mask (fs/signalfd.c). */
    static final long UNBLOCKABLE = (1L << 8) | (1L << 18);

    /** What `cryo show` prints. */
    public java.util.Map<String, Object> fields() {
        return java.util.Map.of("objref", objref, "sigmask", String.format("%016x", sigmask));
    }

    public RecordType type() {
        return RecordType.SIGNALFD;
    }

    public void encode(Encoder e) {
        e.u32(objref).u64(sigmask);
    }

    public static SignalfdRecord decode(Decoder d) throws ImageException {
        int objref = d.u32("objref", 1, Integer.MAX_VALUE);
        long mask = d.u64("sigmask");
        if ((mask & UNBLOCKABLE) != 0) throw d.error("sigmask", "0x" + Long.toHexString(mask) + " holds SIGKILL or SIGSTOP, which no signalfd reads");
        return new SignalfdRecord(objref, mask);
    }
}
