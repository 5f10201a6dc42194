package cryo.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.remote.Tracee;
import cryo.sys.Fd;
import cryo.sys.Ptrace;
import cryo.sys.Userfaultfd;
import cryo.testing.Cleanup;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A userfaultfd made inside another task by a remote syscall and held by cryo serves that task's faults:
 * UFFDIO_REGISTER and UFFDIO_COPY from cryo act on the task's memory (the context holds its mm).
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class TaskUserfaultfdTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    private static final String SCRIPT = """
            import mmap, ctypes, sys, os
            m = mmap.mmap(-1, 16 * 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            print("PID %d" % os.getpid(), flush=True)
            print("ADDR %x" % ctypes.addressof(ctypes.c_char.from_buffer(m)), flush=True)
            sys.stdin.readline()
            print("GOT %d %d" % (m[3 * 4096], m[3 * 4096 + 7]), flush=True)
            sys.stdin.readline()
            """;

    @Test
    void faultsOfAnotherTaskAreServedByCryo() throws Exception {
        Fixtures.assumeRoot();
        // python3 runs under sh, not as the JVM's child: the JVM's process reaper would take its ptrace stops.
        Proc p = cleanup.start("uffd-target", new ProcessBuilder("sh", "-c", "exec 3<&0; python3 -c \"$0\" <&3 3<&- & wait", SCRIPT));
        int pid = Integer.parseInt(p.await("PID", l -> l.startsWith("PID ")).substring(4));
        cleanup.foreign(pid, java.time.Instant.now().minusSeconds(60), "python3 target");
        long addr = Long.parseLong(p.await("ADDR", l -> l.startsWith("ADDR ")).substring(5), 16);
        Tracee t = Tracee.seize(pid, Ptrace.O_TRACESYSGOOD);
        long mask = Ptrace.getSigmask(pid);
        t.useSyscallAt(AddressSpace.findSyscallInsn(pid, Mapping.read(pid)));
        int uffd = TaskUserfaultfd.open(t, Userfaultfd.O_NONBLOCK, 0);
        try {
            Userfaultfd.register(uffd, addr, 16 * 4096, Userfaultfd.REGISTER_MODE_MISSING);
            t.resume(mask);
            p.send("go");
            try (Arena a = Arena.ofConfined()) {
                MemorySegment msgs = a.allocate(Userfaultfd.MSG_SIZE * 4, 8);
                int n = 0;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (n == 0 && System.nanoTime() < deadline) {
                    n = Userfaultfd.read(uffd, msgs);
                    if (n == 0) Thread.sleep(5);
                }
                assertTrue(n > 0, "no fault reported");
                assertEquals(Userfaultfd.EVENT_PAGEFAULT, Userfaultfd.event(msgs, 0));
                long at = Userfaultfd.faultAddress(msgs, 0) & ~4095L;
                assertEquals(addr + 3 * 4096, at);
                MemorySegment page = a.allocate(4096, 4096);
                page.fill((byte) 65);
                assertEquals(4096, Userfaultfd.copy(uffd, at, page.address(), 4096, 0));
                assertEquals(-cryo.sys.Errno.EEXIST, Userfaultfd.copy(uffd, at, page.address(), 4096, 0));
            }
            assertEquals("GOT 65 65", p.await("GOT", l -> l.startsWith("GOT")));
        } finally {
            Fd.close(uffd);
        }
    }
}
