package cryo.restart;

import cryo.files.FdBroker;
import cryo.sys.Fd;
import cryo.sys.Spawn;
import cryo.sys.SysException;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The process every restored task starts from: a static ELF of cryo's own (no libc), one read-execute
 * page at BASE that loops on pause(2). Its address space is nearly empty, so it is easy to clear.
 */
public final class Stub {
    /** Load address: mmap_min_addr, below where executables and libraries go. */
    static final long BASE = 0x10000;
    private static final int HEADERS = 64 + 2 * 56;
    /** Address of the `syscall` instruction in the loop: mov eax, 34 (5 bytes) comes first. */
    public static final long SYSCALL_INSN = BASE + HEADERS + 5;

    private Stub() {
    }

    /**
     * Starts the stub from a memfd with the broker's task end inherited (at cryo's number: the tracer moves
     * it to broker.remoteFd once it has seized the stub, FdBroker.moveIntoPlace). Returns its pid.
     */
    static int spawn(FdBroker broker) throws SysException {
        int memfd = Fd.memfd("cryo-stub");
        try (Arena a = Arena.ofConfined()) {
            Fd.writeFully(memfd, a.allocateFrom(ValueLayout.JAVA_BYTE, elf()), "stub");
            return Spawn.spawn("/proc/self/fd/" + memfd, new String[]{"cryo-stub"}, broker.taskEnd);
        } finally {
            Fd.close(memfd);
        }
    }

    public static byte[] elf() {
        byte[] code = {
                (byte) 0xb8, 0x22, 0x00, 0x00, 0x00,    // mov eax, __NR_pause
                0x0f, 0x05,                             // syscall
                (byte) 0xeb, (byte) 0xf7                // jmp back to mov
        };
        int size = HEADERS + code.length;
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[]{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0});
        b.putShort((short) 2).putShort((short) 0x3e).putInt(1);          // ET_EXEC, x86-64, EV_CURRENT
        b.putLong(BASE + HEADERS).putLong(64).putLong(0);                // entry, phoff, shoff
        b.putInt(0).putShort((short) 64).putShort((short) 56).putShort((short) 2)
                .putShort((short) 64).putShort((short) 0).putShort((short) 0);
        b.putInt(1).putInt(5).putLong(0).putLong(BASE).putLong(BASE)      // PT_LOAD, R|X, whole file
                .putLong(size).putLong(size).putLong(0x1000);
        b.putInt(0x6474e551).putInt(6).putLong(0).putLong(0).putLong(0)   // PT_GNU_STACK, RW (no exec stack)
                .putLong(0).putLong(0).putLong(16);
        b.put(code);
        return b.array();
    }
}
