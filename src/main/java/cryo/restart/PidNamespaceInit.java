package cryo.restart;

import cryo.remote.Tracee;
import cryo.sys.Nr;
import cryo.sys.Proc;
import cryo.sys.Ptrace;
import cryo.sys.Regs;
import cryo.sys.SysException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The init of a fresh pid namespace (cryo restart --fresh-pid-ns): a task cloned from the stub into new pid
 * and mount namespaces, pid 1 there, with a /proc of that namespace. The tree's root is created from it, and
 * then it runs the stub's init routine (Stub.INIT): it reaps orphans, passes SIGHUP, SIGINT and SIGTERM on
 * to the root, and exits as the root did (128 + signal for a root killed by a signal).
 */
final class PidNamespaceInit {
    private static final long CLONE_NEWNS = 0x20000, CLONE_NEWPID = 0x20000000, CLONE_PARENT = 0x8000;
    private static final long MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_REC = 0x4000, MS_PRIVATE = 1 << 18;
    private static final int PR_SET_NAME = 15;
    /** The signals the init passes on to the root: SIGHUP, SIGINT, SIGTERM. */
    static final long PASSED_ON = 1L << (1 - 1) | 1L << (2 - 1) | 1L << (15 - 1);

    private PidNamespaceInit() {
    }

    /**
     * Clones the init from the stub, whose scratch area it shares (a copy), into new pid and mount
     * namespaces with CLONE_PARENT, so that cryo is its parent, and set_tid {1}; it is traced and stopped,
     * with the stub's code page to run remote calls from (Stub.SYSCALL_INSN). It makes every mount
     * private (MS_REC|MS_PRIVATE on /: a copy of a shared mount would propagate the new /proc back to
     * cryo's namespace, mount_namespaces(7)) and mounts a proc of its pid namespace over /proc, so that
     * the tree reads its own pids there. It gets the default action for SIGCHLD now, before it has a child:
     * cryo's, inherited, may be SIG_IGN, which would have the kernel reap its children unseen
     * (kernel/signal.c do_notify_parent), and setting SIG_DFL later would discard a SIGCHLD already pending
     * (do_sigaction: its default action is to ignore it).
     */
    static Tracee create(Tracee stub) throws SysException {
        Tracee init;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment args = a.allocate(88);
            args.set(JAVA_LONG, 0, CLONE_NEWPID | CLONE_NEWNS | CLONE_PARENT);
            args.set(JAVA_LONG, 64, stub.scratch() + 128);     // set_tid
            args.set(JAVA_LONG, 72, 1);                         // set_tid_size: the new namespace's pid only
            stub.put(0, args);
            MemorySegment one = a.allocate(8);
            one.set(JAVA_INT, 0, 1);
            stub.put(128, one);
            long r = stub.call(Nr.CLONE3, null, stub.scratch(), 88);
            if (r < 0) throw new SysException("remote clone3(CLONE_NEWPID|CLONE_NEWNS, set_tid=1) in the stub " + stub.tid, (int) -r);
            init = Tracee.adopt((int) r, 1);
        }
        init.useSyscallAt(Stub.SYSCALL_INSN);
        init.useScratch(stub.scratch(), stub.scratchSize());
        long root = init.putString(0, "/");
        init.syscall("mount(/, MS_REC|MS_PRIVATE)", Nr.MOUNT, 0, root, 0, MS_REC | MS_PRIVATE, 0);
        long proc = init.putString(0, "proc");
        long at = init.putString(16, "/proc");
        init.syscall("mount(proc, /proc)", Nr.MOUNT, proc, at, proc, MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
        try (Arena a = Arena.ofConfined()) {
            init.syscall("rt_sigaction(SIGCHLD, SIG_DFL)", Nr.RT_SIGACTION, Proc.SIGCHLD, init.put(0, a.allocate(32)), 0, 8);
        }
        return init;
    }

    /**
     * Lets the init run its routine once the tree's root (pid `root` in the namespace) is its child: it
     * closes every fd it inherited from the stub, moves to /, takes the name cryo-init, unmaps
     * [unmapFrom, unmapFrom + unmapLength) (cryo's scratch), and is released at Stub.INIT with r12 = root
     * and r13 = PASSED_ON, those signals and SIGCHLD blocked (the routine waits for them).
     */
    static void start(Tracee init, int root, long unmapFrom, long unmapLength) throws SysException, IOException {
        try (var s = Files.list(Path.of("/proc/" + init.tid + "/fd"))) {
            for (Path p : (Iterable<Path>) s::iterator) init.call(Nr.CLOSE, null, Integer.parseInt(p.getFileName().toString()));
        }
        init.syscall("chdir(/)", Nr.CHDIR, init.putString(0, "/"));
        init.syscall("prctl(PR_SET_NAME)", Nr.PRCTL, PR_SET_NAME, init.putString(0, "cryo-init"));
        long r = init.call(Nr.MUNMAP, null, unmapFrom, unmapLength);
        if (r != 0) throw new SysException("remote munmap(scratch) in the init " + init.tid, (int) -r);
        Regs regs = init.stoppedRegs().set(Regs.RIP, Stub.INIT).set(Regs.R12, root).set(Regs.R13, PASSED_ON)
                .set(Regs.ORIG_RAX, -1);
        Ptrace.setRegs(init.tid, regs);
        Ptrace.setSigmask(init.tid, PASSED_ON | 1L << (Proc.SIGCHLD - 1));
        Ptrace.detach(init.tid, 0);
    }
}
