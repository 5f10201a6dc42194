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
    private static final int PROT_RW = 3, PROT_RWX = 7, MAP_PRIVATE_ANON = 0x22;

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
        byte[][] xstates = new byte[threads.size()][];
        int longest = 0;
        for (int i = 0; i < threads.size(); i++) {
            threads.get(i).useSyscallAt(vdsoInsn);
            xstates[i] = Ptrace.getXstate(threads.get(i).tid);
            longest = Math.max(longest, xstates[i].length);
        }
        long slot = STACK_ROOM + roundUp(RescueFrame.size(longest), PAGE);
        long size = Scratch.SIZE + PAGE + threads.size() * slot;
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
            long code = addr + Scratch.SIZE;
            try (Arena a = Arena.ofConfined()) {
                write(leader.tid, code, a.allocate(CODE.length).copyFrom(MemorySegment.ofArray(CODE)));
                for (int i = 0; i < threads.size(); i++) {
                    Tracee t = threads.get(i);
                    long frame = code + PAGE + i * slot + STACK_ROOM;
                    // rt_sigreturn leaves the restart of an interrupted syscall to nobody (orig_ax -1) and
                    // clears restart_block: the frame holds what a restored task resumes with.
                    byte[] bytes = RescueFrame.build(frame, SyscallRestart.resume(t.stoppedRegs(), false), xstates[i], t.ownMask());
                    write(leader.tid, frame, a.allocate(bytes.length, 64).copyFrom(MemorySegment.ofArray(bytes)));
                    t.useScratch(addr, Scratch.SIZE);
                    t.useRescue(code, frame);
                }
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

    private static void write(int pid, long to, MemorySegment data) throws SysException {
        if (ProcessVm.write(pid, data, to) != data.byteSize()) {
            throw new SysException("process_vm_writev of cryo's code and rescue frames into task " + pid, Errno.EFAULT);
        }
    }

    private static long roundUp(long n, long to) {
        return (n + to - 1) / to * to;
    }
}
