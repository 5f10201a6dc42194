package cryo.remote;

import cryo.sys.Errno;
import cryo.sys.KillPoint;
import cryo.sys.Nr;
import cryo.sys.ProcessVm;
import cryo.sys.Ptrace;
import cryo.sys.SysException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The scratch memory of one frozen process at checkpoint, made so that cryo can die at any moment between its
 * mapping and its unmapping without harming the process. Besides the argument area (Scratch.SIZE bytes) it
 * holds cryo's code, `syscall; mov $15, %eax; syscall`, and per borrowed thread a RescueFrame of the thread's own
 * context with STACK_ROOM bytes below it. Every remote call runs that code with rsp = frame + 8: a thread
 * released by a dead tracer finishes the call and rt_sigreturns to exactly where it was, its own mask back.
 *
 * Only the mmap and the munmap of this memory run from the vdso's `syscall`, with the leader's registers
 * borrowed: two windows of one remote syscall each per process, the only moments a kill -9 of cryo leaves a
 * thread with wrong registers. A kill between them leaves the memory mapped in the process (harmless to it, but
 * there). A process that forbids writable executable memory (MDWE, a seccomp filter) gets a plain scratch area
 * and the old unguarded remote calls.
 */
public final class GuardedScratch implements AutoCloseable {
    /**
     * At 0: syscall; mov $15 (rt_sigreturn), %eax; syscall. At CLOSE_AFTER: syscall; mov %eax, %edi; mov $3
     * (close), %eax; syscall; mov $15, %eax; syscall — for a call that makes a descriptor (Tracee.withRemoteFd).
     */
    private static final byte[] CODE = {0x0f, 0x05, (byte) 0xb8, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05,
            (byte) 0x90, (byte) 0x90, (byte) 0x90, (byte) 0x90, (byte) 0x90, (byte) 0x90, (byte) 0x90,
            0x0f, 0x05, (byte) 0x89, (byte) 0xc7, (byte) 0xb8, 0x03, 0x00, 0x00, 0x00, 0x0f, 0x05,
            (byte) 0xb8, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
    static final int CLOSE_AFTER = 16;
    private static final long PAGE = 4096;
    /**
     * Stack below each frame: a thread given its mask back but not yet its registers takes a pending signal's
     * handler on this stack if cryo dies right then; the handler returns to the rt_sigreturn all the same.
     */
    private static final long STACK_ROOM = 64 * 1024;
    private static final int PROT_RW = 3, PROT_RWX = 7, MAP_PRIVATE_ANON = 0x22, IOV_MAX = 1024;

    private final List<Tracee> threads;
    private final long addr, size;

    private GuardedScratch(List<Tracee> threads, long addr, long size) {
        this.threads = threads;
        this.addr = addr;
        this.size = size;
    }

    /**
     * Maps the scratch memory in the process of threads (leader first, all stopped and guarded) through the
     * vdso's syscall instruction at vdsoInsn, and makes every later remote call of these threads a guarded one.
     */
    public static GuardedScratch map(List<Tracee> threads, long vdsoInsn) throws SysException {
        Tracee leader = threads.getFirst();
        int n = threads.size();
        byte[][] xstates = new byte[n][];
        int longest = 0;
        for (int i = 0; i < n; i++) {
            threads.get(i).useSyscallAt(vdsoInsn);
            xstates[i] = Ptrace.getXstate(threads.get(i).tid);
            longest = Math.max(longest, xstates[i].length);
        }
        long slot = STACK_ROOM + roundUp(RescueFrame.size(longest), PAGE);
        long size = Scratch.SIZE + PAGE + n * slot;
        try (Arena a = Arena.ofConfined()) {
            // Everything is built before the mmap: the window it opens (the leader in the vdso with borrowed
            // registers) lasts that call, the process_vm_writev of the code and frames, and one PTRACE_SETREGS.
            MemorySegment[] data = new MemorySegment[n + 1];
            long[] at = new long[n + 1];
            data[0] = a.allocate(CODE.length).copyFrom(MemorySegment.ofArray(CODE));
            at[0] = Scratch.SIZE;
            for (int i = 0; i < n; i++) {
                Tracee t = threads.get(i);
                at[i + 1] = Scratch.SIZE + PAGE + i * slot + STACK_ROOM;
                // rt_sigreturn leaves the restart of an interrupted syscall to nobody (orig_ax -1) and clears
                // restart_block: the frame holds what a restored task resumes with.
                byte[] frame = RescueFrame.build(at[i + 1], SyscallRestart.resume(t.stoppedRegs(), false), xstates[i], t.ownMask());
                data[i + 1] = a.allocate(frame.length, 64).copyFrom(MemorySegment.ofArray(frame));
            }
            // The first use of each native call costs its binding (milliseconds on a busy machine): made here,
            // harmlessly (the leader's own mask and registers again, an empty write), not inside the window.
            Ptrace.setSigmask(leader.tid, leader.ownMask());
            Ptrace.setRegs(leader.tid, leader.stoppedRegs());
            ProcessVm.writev(leader.tid, new MemorySegment[]{data[0].asSlice(0, 0)}, new long[]{0}, 0, 1);
            KillPoint.reach("before-scratch");
            long addr;
            try {
                addr = leader.syscall("mmap(scratch)", Nr.MMAP, 0, size, PROT_RWX, MAP_PRIVATE_ANON, -1, 0);
            } catch (SysException e) {
                if (e.errno() != Errno.EACCES && e.errno() != Errno.EPERM) throw e;
                addr = leader.syscall("mmap(scratch)", Nr.MMAP, 0, Scratch.SIZE, PROT_RW, MAP_PRIVATE_ANON, -1, 0);
                for (Tracee t : threads) t.useScratch(addr, Scratch.SIZE);
                return new GuardedScratch(threads, addr, Scratch.SIZE);
            }
            GuardedScratch g = new GuardedScratch(threads, addr, size);
            try {
                long total = 0;
                for (int i = 0; i <= n; i++) {
                    if (i > 0) RescueFrame.relocate(data[i], addr);
                    at[i] += addr;
                    total += data[i].byteSize();
                }
                long written = 0;
                for (int from = 0; from <= n; from += IOV_MAX) written += ProcessVm.writev(leader.tid, data, at, from, Math.min(IOV_MAX, n + 1 - from));
                if (written != total) throw new SysException("process_vm_writev of cryo's code and rescue frames into task " + leader.tid, Errno.EFAULT);
                for (int i = 0; i < n; i++) {
                    threads.get(i).useScratch(addr, Scratch.SIZE);
                    threads.get(i).useRescue(at[0], at[i + 1]);
                }
                leader.park();   // the end of the first window: the leader sits on its rt_sigreturn
                KillPoint.reach("scratch-mapped");
                return g;
            } catch (SysException | RuntimeException e) {
                try {
                    g.close();
                } catch (SysException | RuntimeException x) {
                    e.addSuppressed(x);
                }
                throw e;
            }
        }
    }

    /** True when the remote calls are guarded by rescue frames (false: the process forbids W+X memory). */
    public boolean guarded() {
        return size != Scratch.SIZE;
    }

    /**
     * Gives every thread but the leader its own context back, unmaps the memory from the leader through the
     * vdso (the second window) and gives the leader its own context back.
     */
    @Override
    public void close() throws SysException {
        Tracee leader = threads.getFirst();
        try {
            for (Tracee t : threads.subList(1, threads.size())) t.giveBack();
        } finally {
            KillPoint.reach("before-munmap");
            leader.dropRescue();
            try {
                leader.syscall("munmap(scratch)", Nr.MUNMAP, addr, size);
            } finally {
                leader.giveBack();
            }
        }
        KillPoint.reach("scratch-unmapped");
    }

    private static long roundUp(long n, long to) {
        return (n + to - 1) / to * to;
    }
}
