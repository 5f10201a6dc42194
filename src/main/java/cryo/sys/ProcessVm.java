package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * process_vm_readv(2) / process_vm_writev(2): bulk copies between cryo and another process, many remote
 * ranges per call. They need ptrace-read/attach permission on the target, not a ptrace link, so any
 * thread may call them.
 */
public final class ProcessVm {
    /** UIO_MAXIOV: the most iovecs one call takes. */
    public static final int IOV_MAX = 1024;

    private ProcessVm() {
    }

    /**
     * Copies the remote ranges addrs[from..from+count) (lengths lens[...]) of pid into the local segment,
     * back to back. Returns the number of bytes copied: less than asked when a remote range faults.
     */
    public static long readv(int pid, MemorySegment local, long[] addrs, long[] lens, int from, int count) throws SysException {
        return transfer(Nr.PROCESS_VM_READV, "process_vm_readv", pid, local, addrs, lens, from, count);
    }

    /** Copies the local segment to the remote ranges of pid, back to back; returns the bytes written. */
    public static long writev(int pid, MemorySegment local, long[] addrs, long[] lens, int from, int count) throws SysException {
        return transfer(Nr.PROCESS_VM_WRITEV, "process_vm_writev", pid, local, addrs, lens, from, count);
    }

    public static long read(int pid, MemorySegment local, long addr) throws SysException {
        return readv(pid, local, new long[]{addr}, new long[]{local.byteSize()}, 0, 1);
    }

    public static long write(int pid, MemorySegment local, long addr) throws SysException {
        return writev(pid, local, new long[]{addr}, new long[]{local.byteSize()}, 0, 1);
    }

    /**
     * Writes locals[from+i] to addrs[from+i] for count ranges in one call (page data of a mapped image goes
     * straight from the mapping to the task). Returns the bytes written.
     */
    public static long writev(int pid, MemorySegment[] locals, long[] addrs, int from, int count) throws SysException {
        if (count > IOV_MAX) throw new IllegalArgumentException(count + " iovecs > " + IOV_MAX);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment liov = a.allocate(16L * count);
            MemorySegment riov = a.allocate(16L * count);
            for (int i = 0; i < count; i++) {
                MemorySegment l = locals[from + i];
                liov.set(JAVA_LONG, 16L * i, l.address());
                liov.set(JAVA_LONG, 16L * i + 8, l.byteSize());
                riov.set(JAVA_LONG, 16L * i, addrs[from + i]);
                riov.set(JAVA_LONG, 16L * i + 8, l.byteSize());
            }
            return Native.check(Native.raw(Nr.PROCESS_VM_WRITEV, pid, liov.address(), count, riov.address(), count, 0),
                    "process_vm_writev(" + pid + ", " + count + " ranges from 0x" + Long.toHexString(addrs[from]) + ")");
        }
    }

    /**
     * Reads the remote ranges addrs[from+i] (lengths locals[from+i].byteSize()) into locals[from+i], in one
     * call. Returns the bytes read: less than asked when a remote range faults.
     */
    public static long readv(int pid, MemorySegment[] locals, long[] addrs, int from, int count) throws SysException {
        if (count > IOV_MAX) throw new IllegalArgumentException(count + " iovecs > " + IOV_MAX);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment liov = a.allocate(16L * count);
            MemorySegment riov = a.allocate(16L * count);
            for (int i = 0; i < count; i++) {
                MemorySegment l = locals[from + i];
                liov.set(JAVA_LONG, 16L * i, l.address());
                liov.set(JAVA_LONG, 16L * i + 8, l.byteSize());
                riov.set(JAVA_LONG, 16L * i, addrs[from + i]);
                riov.set(JAVA_LONG, 16L * i + 8, l.byteSize());
            }
            return Native.check(Native.raw(Nr.PROCESS_VM_READV, pid, liov.address(), count, riov.address(), count, 0),
                    "process_vm_readv(" + pid + ", " + count + " ranges from 0x" + Long.toHexString(addrs[from]) + ")");
        }
    }

    private static long transfer(int nr, String name, int pid, MemorySegment local, long[] addrs, long[] lens,
                                 int from, int count) throws SysException {
        if (count > IOV_MAX) throw new IllegalArgumentException(count + " iovecs > " + IOV_MAX);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment liov = a.allocate(16);
            MemorySegment riov = a.allocate(16L * count);
            long total = 0;
            for (int i = 0; i < count; i++) {
                riov.set(JAVA_LONG, 16L * i, addrs[from + i]);
                riov.set(JAVA_LONG, 16L * i + 8, lens[from + i]);
                total += lens[from + i];
            }
            if (total > local.byteSize()) throw new IllegalArgumentException("local buffer too small");
            liov.set(JAVA_LONG, 0, local.address());
            liov.set(JAVA_LONG, 8, total);
            return Native.check(Native.raw(nr, pid, liov.address(), 1, riov.address(), count, 0),
                    name + "(" + pid + ", " + count + " ranges from 0x" + Long.toHexString(addrs[from]) + ")");
        }
    }
}
