package cryo.task;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;
import cryo.image.Tree;
import cryo.sys.Regs;

import java.util.List;

/**
 * THREAD: one thread's CPU and signal state (the kernel series' ckpt_hdr_thread and cpu records):
 * general registers as stopped, the XSAVE area, blocked mask, private pending queue, sigaltstack,
 * clear_child_tid, robust futex list and rseq registration.
 */
public record ThreadRecord(int pid, int tid, long[] regs, byte[] xstate, long sigmask, List<byte[]> pending,
                           long altstackSp, int altstackFlags, long altstackSize, long clearChildTid,
                           long robustHead, long robustLen, long rseqPointer, int rseqSize, int rseqSignature)
        implements ImageRecord, cryo.image.HoldsPids {
    private static final long USER_CS = 0x33, USER_DS = 0x2b;

    public ThreadRecord withPids(java.util.function.IntUnaryOperator toImage) {
        return new ThreadRecord(toImage.applyAsInt(pid), toImage.applyAsInt(tid), regs, xstate, sigmask, pending, altstackSp,
                altstackFlags, altstackSize, clearChildTid, robustHead, robustLen, rseqPointer, rseqSize, rseqSignature);
    }

    /** This record with another private pending queue (cryo.timers keeps a POSIX timer's own signal with the timer). */
    public ThreadRecord withPending(List<byte[]> queue) {
        return new ThreadRecord(pid, tid, regs, xstate, sigmask, queue, altstackSp, altstackFlags, altstackSize, clearChildTid,
                robustHead, robustLen, rseqPointer, rseqSize, rseqSignature);
    }

    public RecordType type() {
        return RecordType.THREAD;
    }

    public void encode(Encoder e) {
        e.u32(pid).u32(tid).longs(regs).bytes(xstate).u64(sigmask).blobs(pending)
                .u64(altstackSp).u32(altstackFlags).u32(0).u64(altstackSize).u64(clearChildTid)
                .u64(robustHead).u64(robustLen).u64(rseqPointer).u32(rseqSize).u32(rseqSignature);
    }

    public static ThreadRecord decode(Decoder d) throws ImageException {
        int pid = d.u32("pid", 1, Tree.PID_MAX_LIMIT);
        int tid = d.u32("tid", 1, Tree.PID_MAX_LIMIT);
        long[] regs = d.longs("regs", Regs.COUNT);
        if (regs.length != Regs.COUNT) throw d.error("regs", "has " + regs.length + " words, not " + Regs.COUNT);
        if (regs[Regs.CS] != USER_CS || regs[Regs.SS] != USER_DS) {
            throw d.error("regs.cs", "0x" + Long.toHexString(regs[Regs.CS]) + " is not 64-bit user mode (only x86_64 tasks are supported)");
        }
        if (!TaskRecord.userAddress(regs[Regs.RIP])) throw d.error("regs.rip", "0x" + Long.toHexString(regs[Regs.RIP]) + " is not a user-space address");
        byte[] xstate = d.bytes("xstate", 16384);
        if (xstate.length < 576) throw d.error("xstate", "is " + xstate.length + " bytes, shorter than the legacy area and XSAVE header");
        long mask = d.u64("sigmask");
        List<byte[]> pending = d.blobs("pending", 4096, 128);
        TaskRecord.checkSiginfos(d, "pending", pending);
        long ssSp = d.u64("altstack.sp");
        int ssFlags = d.u32("altstack.flags");
        d.u32("pad");
        long ssSize = d.u64("altstack.size");
        long ctid = d.u64("clear_child_tid");
        long rh = d.u64("robust_list.head"), rl = d.u64("robust_list.len");
        long rseq = d.u64("rseq.pointer");
        int rseqSize = d.u32("rseq.size", 0, 4096);
        int rseqSig = d.u32("rseq.signature");
        if (rseq != 0 && !TaskRecord.userAddress(rseq)) throw d.error("rseq.pointer", "is not a user-space address");
        return new ThreadRecord(pid, tid, regs, xstate, mask, pending, ssSp, ssFlags, ssSize, ctid, rh, rl, rseq, rseqSize, rseqSig);
    }
}
