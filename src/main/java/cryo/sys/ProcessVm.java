package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * process_vm_readv(2) / process_vm_writev(2): bulk copies between cryo and another process, up to IOV_MAX
 * ranges per call. They need ptrace-read/attach permission on the target, not a ptrace link, so any
 * thread may call them.
 */
public final class ProcessVm {
    /** UIO_MAXIOV: the most iovecs one call takes. */
    public static final int IOV_MAX = 1024;

    private ProcessVm() {
    }

    /**
     * Reads the remote ranges addrs[from+i] into locals[from+i] (their sizes give the lengths), in one
     * call. Returns the bytes read: less than asked when a remote range faults.
     */
    public static long readv(int pid, MemorySegment[] locals, long[] addrs, int from, int count) throws SysException {
        return transfer(Nr.PROCESS_VM_READV, "process_vm_readv", pid, locals, addrs, from, count);
    }

    /** Writes locals[from+i] to addrs[from+i] in one call (straight from a mapped image); returns the bytes written. */
    public static long writev(int pid, MemorySegment[] locals, long[] addrs, int from, int count) throws SysException {
        return transfer(Nr.PROCESS_VM_WRITEV, "process_vm_writev", pid, locals, addrs, from, count);
    }

    public static long read(int pid, MemorySegment local, long addr) throws SysException {
        return readv(pid, new MemorySegment[]{local}, new long[]{addr}, 0, 1);
    }

    public static long write(int pid, MemorySegment local, long addr) throws SysException {
        return writev(pid, new MemorySegment[]{local}, new long[]{addr}, 0, 1);
    }

    private static long transfer(int nr, String name, int pid, MemorySegment[] locals, long[] addrs, int from, int count)
            throws SysException {
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
            return Native.check(Native.raw(nr, pid, liov.address(), count, riov.address(), count, 0),
                    name + "(" + pid + ", " + count + " ranges from 0x" + Long.toHexString(addrs[from]) + ")");
        }
    }
}
