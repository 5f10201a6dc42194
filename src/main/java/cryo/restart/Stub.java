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
 * page at BASE that loops on pause(2) (once it has made sure to die with cryo: PRELUDE), and holds the init routine of a fresh pid namespace (INIT). Its
 * address space is nearly empty, so it is easy to clear.
 */
public final class Stub {
    /** Load address: mmap_min_addr, below where executables and libraries go. */
    static final long BASE = 0x10000;
    private static final int HEADERS = 64 + 2 * 56;
    /** Address of the `syscall` instruction in the loop: mov eax, 34 (5 bytes) comes first. */
    public static final long SYSCALL_INSN = BASE + HEADERS + 5;

    /** The entry point: the stub and every task cloned from it before cryo gives it other code. */
    private static final byte[] PAUSE_LOOP = {
            (byte) 0xb8, 0x22, 0x00, 0x00, 0x00,    // mov eax, __NR_pause
            0x0f, 0x05,                             // syscall
            (byte) 0xeb, (byte) 0xf7                // jmp back to mov
    };

    /**
     * Address of the init routine (PidNamespaceInit): the pid 1 of a fresh pid namespace, run by a task
     * cloned from the stub (it has this page too). Convention, set by cryo in the registers it starts the
     * routine with: r12d = the pid of the tree's root in the namespace (a child of the init), r13 = the
     * signals to pass on to the root (a sigset: bit n-1 for signal n), rsp = a writable stack (the stub's).
     * The routine blocks r13 and SIGCHLD and loops on rt_sigtimedwait: a signal of r13 is sent on with
     * kill(root, sig), unless the kernel sent it (si_code SI_KERNEL: a terminal's ^C or hangup, which went
     * to the tree's process group, the init's, and so reached the root already); SIGCHLD reaps every child that has exited (wait4(-1, WNOHANG|__WALL) until none),
     * and once the root is reaped the routine exits: with the root's exit code, or with 128 + the signal
     * that killed it (a namespace's init cannot die of a signal it sends itself: kernel/signal.c,
     * sig_task_ignored and get_signal's SIGNAL_UNKILLABLE). Its exit kills every other task of the
     * namespace (zap_pid_ns_processes, kernel/pid_namespace.c).
     */
    static final long INIT = BASE + HEADERS + PAUSE_LOOP.length;

    private static final byte[] INIT_ROUTINE = {
            0x4c, (byte) 0x89, (byte) 0xe8,                                         //         mov rax, r13
            0x48, 0x0f, (byte) 0xba, (byte) 0xe8, 0x10,                             //         bts rax, 16           ; + SIGCHLD
            0x50,                                                                   //         push rax              ; [rsp+136] = the set
            0x48, (byte) 0x81, (byte) 0xec, (byte) 0x88, 0x00, 0x00, 0x00,          //         sub rsp, 136          ; [rsp] = siginfo, [rsp+128] = wait status
            (byte) 0xb8, 0x0e, 0x00, 0x00, 0x00,                                    //         mov eax, __NR_rt_sigprocmask
            0x31, (byte) 0xff,                                                      //         xor edi, edi          ; SIG_BLOCK
            0x48, (byte) 0x8d, (byte) 0xb4, 0x24, (byte) 0x88, 0x00, 0x00, 0x00,    //         lea rsi, [rsp+136]    ; &set
            0x31, (byte) 0xd2,                                                      //         xor edx, edx          ; no old set
            0x41, (byte) 0xba, 0x08, 0x00, 0x00, 0x00,                              //         mov r10d, 8           ; sigsetsize
            0x0f, 0x05,                                                             //         syscall
            (byte) 0xb8, (byte) 0x80, 0x00, 0x00, 0x00,                             // wait:   mov eax, __NR_rt_sigtimedwait
            0x48, (byte) 0x8d, (byte) 0xbc, 0x24, (byte) 0x88, 0x00, 0x00, 0x00,    //         lea rdi, [rsp+136]    ; &set
            0x48, (byte) 0x89, (byte) 0xe6,                                         //         mov rsi, rsp          ; &siginfo
            0x31, (byte) 0xd2,                                                      //         xor edx, edx          ; no timeout
            0x41, (byte) 0xba, 0x08, 0x00, 0x00, 0x00,                              //         mov r10d, 8           ; sigsetsize
            0x0f, 0x05,                                                             //         syscall
            (byte) 0x83, (byte) 0xf8, 0x11,                                         //         cmp eax, SIGCHLD
            0x74, 0x1c,                                                             //         je reap
            (byte) 0x85, (byte) 0xc0,                                               //         test eax, eax
            0x7e, (byte) 0xdd,                                                      //         jle wait              ; -EINTR
            (byte) 0x81, 0x7c, 0x24, 0x08, (byte) 0x80, 0x00, 0x00, 0x00,           //         cmp dword [rsp+8], SI_KERNEL ; si_code: a terminal's, sent to the group
            0x74, (byte) 0xd3,                                                      //         je wait               ; the root got it too
            0x44, (byte) 0x89, (byte) 0xe7,                                         //         mov edi, r12d         ; the root
            (byte) 0x89, (byte) 0xc6,                                               //         mov esi, eax          ; the signal
            (byte) 0xb8, 0x3e, 0x00, 0x00, 0x00,                                    //         mov eax, __NR_kill
            0x0f, 0x05,                                                             //         syscall
            (byte) 0xeb, (byte) 0xc5,                                               //         jmp wait
            (byte) 0xb8, 0x3d, 0x00, 0x00, 0x00,                                    // reap:   mov eax, __NR_wait4
            (byte) 0xbf, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff,        //         mov edi, -1           ; any child
            0x48, (byte) 0x8d, (byte) 0xb4, 0x24, (byte) 0x80, 0x00, 0x00, 0x00,    //         lea rsi, [rsp+128]    ; &status
            (byte) 0xba, 0x01, 0x00, 0x00, 0x40,                                    //         mov edx, WNOHANG | __WALL
            0x45, 0x31, (byte) 0xd2,                                                //         xor r10d, r10d        ; no rusage
            0x0f, 0x05,                                                             //         syscall
            (byte) 0x85, (byte) 0xc0,                                               //         test eax, eax
            0x7e, (byte) 0xa5,                                                      //         jle wait              ; none left, ECHILD
            0x44, 0x39, (byte) 0xe0,                                                //         cmp eax, r12d
            0x75, (byte) 0xdb,                                                      //         jne reap              ; an orphan: the next
            (byte) 0x8b, (byte) 0xbc, 0x24, (byte) 0x80, 0x00, 0x00, 0x00,          //         mov edi, [rsp+128]    ; the root's status
            (byte) 0x89, (byte) 0xf8,                                               //         mov eax, edi
            (byte) 0x83, (byte) 0xe0, 0x7f,                                         //         and eax, 0x7f         ; WTERMSIG
            0x74, 0x08,                                                             //         je exited
            (byte) 0x8d, (byte) 0xb8, (byte) 0x80, 0x00, 0x00, 0x00,                //         lea edi, [rax+128]    ; 128 + signal
            (byte) 0xeb, 0x07,                                                      //         jmp out
            (byte) 0xc1, (byte) 0xef, 0x08,                                         // exited: shr edi, 8
            0x40, 0x0f, (byte) 0xb6, (byte) 0xff,                                   //         movzx edi, dil        ; WEXITSTATUS
            (byte) 0xb8, (byte) 0xe7, 0x00, 0x00, 0x00,                             // out:    mov eax, __NR_exit_group
            0x0f, 0x05                                                              //         syscall
    };

    /**
     * The entry point, after the init routine: PR_SET_PDEATHSIG SIGKILL, then into the pause loop if the parent
     * is still cryo (its pid is patched in at PARENT_AT), else exit: a cryo killed before it seized the stub
     * (PTRACE_O_EXITKILL covers it from then on) takes the stub with it.
     */
    private static final byte[] PRELUDE = {
            (byte) 0xb8, (byte) 0x9d, 0x00, 0x00, 0x00,                             //         mov eax, __NR_prctl
            (byte) 0xbf, 0x01, 0x00, 0x00, 0x00,                                    //         mov edi, PR_SET_PDEATHSIG
            (byte) 0xbe, 0x09, 0x00, 0x00, 0x00,                                    //         mov esi, SIGKILL
            0x0f, 0x05,                                                             //         syscall
            (byte) 0xb8, 0x6e, 0x00, 0x00, 0x00,                                    //         mov eax, __NR_getppid
            0x0f, 0x05,                                                             //         syscall
            0x3d, 0x00, 0x00, 0x00, 0x00,                                           //         cmp eax, CRYO_PID
            0x0f, (byte) 0x84, 0x00, 0x00, 0x00, 0x00,                              //         je pause loop (rel32 patched)
            (byte) 0xb8, (byte) 0xe7, 0x00, 0x00, 0x00,                             //         mov eax, __NR_exit_group
            (byte) 0xbf, 0x01, 0x00, 0x00, 0x00,                                    //         mov edi, 1
            0x0f, 0x05                                                              //         syscall
    };
    private static final int PARENT_AT = 25, JUMP_AT = 31, JUMP_END = 35;

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

    /** The stub's ELF, for a stub spawned by this process (its pid is the parent the stub expects). */
    public static byte[] elf() {
        byte[] code = new byte[PAUSE_LOOP.length + INIT_ROUTINE.length + PRELUDE.length];
        System.arraycopy(PAUSE_LOOP, 0, code, 0, PAUSE_LOOP.length);
        System.arraycopy(INIT_ROUTINE, 0, code, PAUSE_LOOP.length, INIT_ROUTINE.length);
        int prelude = PAUSE_LOOP.length + INIT_ROUTINE.length;
        System.arraycopy(PRELUDE, 0, code, prelude, PRELUDE.length);
        ByteBuffer.wrap(code).order(ByteOrder.LITTLE_ENDIAN).putInt(prelude + JUMP_AT, -(prelude + JUMP_END))   // to the pause loop
                .putInt(prelude + PARENT_AT, cryo.sys.Proc.getpid());
        int size = HEADERS + code.length;
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[]{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0});
        b.putShort((short) 2).putShort((short) 0x3e).putInt(1);          // ET_EXEC, x86-64, EV_CURRENT
        b.putLong(BASE + HEADERS + PAUSE_LOOP.length + INIT_ROUTINE.length).putLong(64).putLong(0);   // entry (PRELUDE), phoff, shoff
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
