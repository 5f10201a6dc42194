package cryo.remote;

import cryo.sys.Nr;
import cryo.sys.Regs;

/**
 * What the kernel does to a task interrupted inside a syscall on its way back to user space
 * (arch/x86/kernel/signal.c, arch_do_signal_or_restart), done by hand: cryo loads registers with
 * orig_rax = -1, so the kernel itself no longer restarts anything.
 */
public final class SyscallRestart {
    private static final long ERESTARTSYS = -512, ERESTARTNOINTR = -513, ERESTARTNOHAND = -514,
            ERESTART_RESTARTBLOCK = -516, EINTR = -4;
    private static final long FUTEX_WAIT_BITSET = 9, FUTEX_CMD_MASK = ~(128 | 256);   // ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)

    private SyscallRestart() {
    }

    /**
     * Registers to resume with. In the same task (after --leave-running) an interrupted sleep goes on through
     * restart_syscall; a restored task has no restart_block, so it gets -EINTR there (as CRIU does).
     */
    public static Regs resume(Regs stopped, boolean sameTask) {
        Regs r = stopped.copy();
        if (r.get(Regs.ORIG_RAX) >= 0) {
            long rax = r.rax();
            if (rax == ERESTARTSYS || rax == ERESTARTNOINTR || rax == ERESTARTNOHAND) {
                r.set(Regs.RAX, r.get(Regs.ORIG_RAX)).set(Regs.RIP, r.rip() - 2);
            } else if (rax == ERESTART_RESTARTBLOCK) {
                if (sameTask) {
                    r.set(Regs.RAX, Nr.RESTART_SYSCALL).set(Regs.RIP, r.rip() - 2);
                } else if (absoluteFutexWait(r) || untimedPoll(r)) {
                    r.set(Regs.RAX, r.get(Regs.ORIG_RAX)).set(Regs.RIP, r.rip() - 2);
                } else {
                    r.set(Regs.RAX, EINTR);
                }
            }
        }
        return r.set(Regs.ORIG_RAX, -1);
    }

    private static final long POLL = 7;

    /**
     * poll(2) with a negative timeout: the kernel makes every interrupted poll(2) restart through restart_block
     * (fs/select.c, SYSCALL_DEFINE3(poll)), and without a timeout do_restart_poll only runs the same call again. A program that blocks its signals and waits for them with a signalfd (util-linux
     * script) takes an -EINTR there for an error.
     */
    private static boolean untimedPoll(Regs r) {
        return r.get(Regs.ORIG_RAX) == POLL && (int) r.get(Regs.RDX) < 0;
    }

    /**
     * A FUTEX_WAIT_BITSET with a timeout: the timeout is absolute (futex(2)), and the argument registers still
     * hold what the task passed, so running the call again is what restart_syscall would have done
     * (kernel/futex/waitwake.c futex_wait_restart). glibc's sem_timedwait, pthread_cond_timedwait and
     * pthread_mutex_timedlock wait this way; sem_timedwait would hand an -EINTR to a program that has no
     * signal handler. A relative FUTEX_WAIT still gets -EINTR: re-running it would wait its whole timeout again.
     */
    private static boolean absoluteFutexWait(Regs r) {
        return r.get(Regs.ORIG_RAX) == Nr.FUTEX && (r.get(Regs.RSI) & FUTEX_CMD_MASK) == FUTEX_WAIT_BITSET;
    }
}
