package cryo.task;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;
import cryo.image.Tree;

/**
 * JOB_STOP: process pid was in a group stop (job control: state T) by signal (SIGSTOP, SIGTSTP, SIGTTIN or
 * SIGTTOU); terminal: it had a controlling terminal (stat tty_nr), so it was a terminal's job (JobStop).
 * Restart stops it again before it runs (JobStop.queue).
 */
public record JobStopRecord(int pid, int signal, boolean terminal) implements ImageRecord, cryo.image.HoldsPids {
    private static final int FLAG_TERMINAL = 1;

    public JobStopRecord withPids(java.util.function.IntUnaryOperator toImage) {
        return new JobStopRecord(toImage.applyAsInt(pid), signal, terminal);
    }

    public RecordType type() {
        return RecordType.JOB_STOP;
    }

    public void encode(Encoder e) {
        e.u32(pid).u32(signal).u32(terminal ? FLAG_TERMINAL : 0);
    }

    public static JobStopRecord decode(Decoder d) throws ImageException {
        int pid = d.u32("pid", 1, Tree.PID_MAX_LIMIT);
        int signal = d.u32("signal");
        if (!JobStop.isStopSignal(signal)) throw d.error("signal", signal + " is not a stop signal (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU)");
        int flags = d.u32("flags");
        if ((flags & ~FLAG_TERMINAL) != 0) throw d.error("flags", "has unknown bits 0x" + Integer.toHexString(flags & ~FLAG_TERMINAL));
        return new JobStopRecord(pid, signal, flags == FLAG_TERMINAL);
    }
}
