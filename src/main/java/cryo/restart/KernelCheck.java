package cryo.restart;

import cryo.sys.ProcFile;
import cryo.files.FdBroker;
import cryo.remote.Scratch;
import cryo.remote.Tracee;
import cryo.sys.Fd;
import cryo.sys.Nr;
import cryo.sys.Proc;
import cryo.sys.ProcessVm;
import cryo.sys.Ptrace;
import cryo.sys.Spawn;
import cryo.sys.SysException;
import cryo.sys.SysvIpc;
import cryo.sys.Wait;
import cryo.task.Capabilities;
import cryo.task.Credentials;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** `cryo check`: tries, on a stub process of its own, every kernel interface cryo relies on. */
public final class KernelCheck {
    private interface Probe {
        String run() throws Exception;
    }

    private int failures;
    private final PrintStream out;

    private KernelCheck(PrintStream out) {
        this.out = out;
    }

    private void check(String what, Probe p) {
        try {
            String detail = p.run();
            out.println("OK    " + what + (detail == null ? "" : " (" + detail + ")"));
        } catch (Exception e) {
            failures++;
            out.println("FAIL  " + what + ": " + e.getMessage());
        }
    }

    public static int run(PrintStream out) throws SysException {
        return new KernelCheck(out).all();
    }

    private int all() throws SysException {
        capabilities();
        int pid = -1;
        try (FdBroker broker = new FdBroker(3)) {
            pid = Stub.spawn(broker);
            int stubPid = pid;
            Tracee[] t = new Tracee[1];
            check("ptrace PTRACE_SEIZE + PTRACE_INTERRUPT", () -> {
                t[0] = Tracee.seize(stubPid, Ptrace.O_TRACESYSGOOD | Ptrace.O_TRACECLONE | Ptrace.O_EXITKILL);
                Ptrace.setSigmask(stubPid, ~0L);
                t[0].useSyscallAt(Stub.SYSCALL_INSN);
                broker.moveIntoPlace(t[0]);
                return null;
            });
            if (t[0] == null) return finish();
            Tracee stub = t[0];
            check("remote syscalls (PTRACE_SYSCALL)", () -> {
                long r = stub.syscall("getpid", Nr.GETPID);
                if (r != stubPid) throw new Exception("getpid returned " + r);
                long s = stub.syscall("mmap", Nr.MMAP, 0, Scratch.SIZE, 3, 0x22, -1, 0);
                stub.useScratch(s, Scratch.SIZE);
                return null;
            });
            check("process_vm_writev / process_vm_readv", () -> {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment w = a.allocate(8).fill((byte) 0x5a);
                    stub.put(0, w);
                    MemorySegment r = stub.get(stub.scratch(), 8, a);
                    if (r.mismatch(w) != -1) throw new Exception("read back differs");
                }
                return null;
            });
            check("PTRACE_GETREGSET NT_X86_XSTATE", () -> Ptrace.getXstate(stubPid).length + " bytes");
            check("PTRACE_GET_RSEQ_CONFIGURATION", () -> {
                Ptrace.rseqConfig(stubPid);
                return null;
            });
            check("prctl PR_SET_MM_MAP", () -> {
                stub.syscall("prctl(PR_SET_MM_MAP_SIZE)", Nr.PRCTL, 35, 15, stub.scratch(), 0, 0);
                try (Arena a = Arena.ofConfined()) {
                    int size = stub.get(stub.scratch(), 4, a).get(JAVA_INT, 0);
                    if (size != 104) throw new Exception("struct prctl_mm_map is " + size + " bytes, cryo knows 104");
                    return "struct of " + size + " bytes";
                }
            });
            check("clone3 with set_tid", () -> {
                int want = freePid();
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment args = a.allocate(88);
                    args.set(JAVA_LONG, 0, 0x8000);
                    args.set(JAVA_LONG, 64, stub.scratch() + 128);
                    args.set(JAVA_LONG, 72, 1);
                    stub.put(0, args);
                    MemorySegment tid = a.allocate(8);
                    tid.set(JAVA_INT, 0, want);
                    stub.put(128, tid);
                }
                long child = stub.syscall("clone3", Nr.CLONE3, stub.scratch(), 88);
                Tracee.adopt((int) child);
                Proc.kill((int) child, Proc.SIGKILL);
                while (!Wait.waitFor((int) child, Tracee.WAIT_MS).gone()) Ptrace.cont((int) child, 0);
                if (child != want) throw new Exception("got pid " + child + ", asked for " + want);
                return "pid " + want;
            });
            check("pidfd_open", () -> {
                Fd.close(Proc.pidfdOpen(stubPid));
                return null;
            });
            check("Unix sockets: pidfd_getfd, sock_diag, SO_PEEK_OFF", () -> {
                cryo.sockets.UnixSocketFile.selfCheck(stubPid);
                return null;
            });
            check("TCP sockets: inet_diag, TCP_REPAIR, TCP_QUEUE_SEQ, a peek in repair mode", () -> {
                cryo.inet.TcpSocketFile.selfCheck();
                return null;
            });
            check("fd passing (SCM_RIGHTS to a remote recvmsg)", () -> {
                int got = broker.pass(stub, 0);
                stub.syscall("close", Nr.CLOSE, got);
                return null;
            });
            check("kcmp(KCMP_FILE)", () -> {
                int self = Proc.getpid();
                if (!Proc.sameFile(self, 0, self, 0)) throw new Exception("fd 0 differs from itself");
                return null;
            });
            check("/proc/PID/pagemap and map_files", () -> {
                try (var ch = java.nio.channels.FileChannel.open(Path.of("/proc/self/pagemap"))) { ch.read(java.nio.ByteBuffer.allocate(8), 8L * 16); }
                try (var s = Files.list(Path.of("/proc/self/map_files"))) {
                    s.findFirst().orElseThrow();
                }
                return null;
            });
            check("msgrcv MSG_COPY", () -> {
                int q = SysvIpc.msgget(SysvIpc.IPC_PRIVATE, 0600);
                try {
                    SysvIpc.msgsnd(q, 7, new byte[]{1, 2, 3});
                    Object[] m = SysvIpc.msgcopy(q, 0, 16);
                    if ((long) m[0] != 7) throw new Exception("copied type " + m[0]);
                } finally {
                    SysvIpc.msgrmid(q);
                }
                return null;
            });
            // POSIX timers come back with their ids; a timerfd with its unread ticks (CONFIG_CHECKPOINT_RESTORE).
            check("prctl PR_TIMER_CREATE_RESTORE_IDS", () -> "off: " + stub.syscall("prctl(PR_TIMER_CREATE_RESTORE_IDS, GET)", Nr.PRCTL, 77, 2, 0, 0, 0));
            check("timerfd TFD_IOC_SET_TICKS", () -> {
                int fd = cryo.sys.Timers.timerfdCreate(cryo.sys.Timers.CLOCK_MONOTONIC, Fd.O_NONBLOCK);
                try (Arena a = Arena.ofConfined()) {
                    cryo.sys.Timers.timerfdSetTicks(fd, 3);
                    MemorySegment n = a.allocate(8);
                    Fd.readFully(fd, n, "timerfd");
                    if (n.get(JAVA_LONG, 0) != 3) throw new Exception("read " + n.get(JAVA_LONG, 0) + " ticks, set 3");
                } finally {
                    Fd.close(fd);
                }
                return null;
            });
        } finally {
            if (pid > 0) {
                Proc.kill(pid, Proc.SIGKILL);
                try {
                    while (!Wait.waitFor(pid, Tracee.WAIT_MS).gone()) Ptrace.cont(pid, 0);
                } catch (SysException ignored) {
                    // already reaped
                }
            }
        }
        return finish();
    }

    /** What each capability is for; whether cryo cannot work without it; what its absence costs. */
    private record Need(int cap, boolean essential, String use, String cost) {
    }

    private static final Need[] NEEDS = {
            new Need(Capabilities.SYS_PTRACE, true, "seize tasks of any user, read and write their memory, kcmp",
                    "checkpoint and restart stop at once with a line naming it"),
            new Need(Capabilities.SYS_ADMIN, false, "clone3 set_tid, PR_SET_MM_MAP, setns, map_files, IPC next ids",
                    "restart needs CAP_CHECKPOINT_RESTORE instead for set_tid and PR_SET_MM_MAP; no IPC namespaces"),
            new Need(Capabilities.CHECKPOINT_RESTORE, false, "clone3 set_tid and PR_SET_MM_MAP without CAP_SYS_ADMIN",
                    "none while CAP_SYS_ADMIN is there"),
            new Need(Capabilities.SETUID, false, "give restored tasks their uids",
                    "tasks of other users than cryo's cannot be restarted"),
            new Need(Capabilities.SETGID, false, "give restored tasks their gids and groups",
                    "tasks with other gids or groups than cryo's cannot be restarted"),
            new Need(Capabilities.SETPCAP, false, "give restored tasks their bounding, inheritable and ambient sets and securebits",
                    "tasks with capability sets or securebits other than cryo's cannot be restarted"),
            new Need(Capabilities.SYS_RESOURCE, false, "raise hard limits, pipes above fs.pipe-max-size, queues above msgmnb",
                    "restart fails for tasks whose hard limits are above cryo's own (named before anything is created), pipes above fs.pipe-max-size and queues above kernel.msgmnb"),
            new Need(Capabilities.KILL, false, "kill checkpointed trees of other users",
                    "checkpoint of another user's tree works only with --leave-running"),
            new Need(Capabilities.IPC_OWNER, false, "read and recreate SysV IPC objects whatever their modes",
                    "SysV IPC objects whose mode denies root cannot be checkpointed"),
            new Need(Capabilities.DAC_OVERRIDE, false, "reopen files the tasks opened whatever their modes",
                    "files whose mode denies root cannot be reopened at restart"),
            new Need(Capabilities.DAC_READ_SEARCH, false, "open the inodes inotify watches by their file handles (open_by_handle_at)",
                    "an inotify instance with watches is refused at checkpoint and fails at restart"),
    };

    /** One line per capability cryo uses: OK with what it is for, or MISSING with what that costs. */
    private void capabilities() {
        long eff;
        try {
            eff = Credentials.caps(cryo.task.ProcStat.read(Proc.getpid()))[Credentials.EFF];
        } catch (Exception e) {
            failures++;
            out.println("FAIL  capabilities: cannot read /proc/self/status: " + e.getMessage());
            return;
        }
        boolean setTid = Capabilities.has(eff, Capabilities.SYS_ADMIN) || Capabilities.has(eff, Capabilities.CHECKPOINT_RESTORE);
        for (Need n : NEEDS) {
            String name = Capabilities.name(n.cap());
            if (Capabilities.has(eff, n.cap())) {
                out.println("OK    " + name + " (" + n.use() + ")");
            } else {
                boolean fatal = n.essential() || (n.cap() == Capabilities.CHECKPOINT_RESTORE && !setTid);
                if (fatal) failures++;
                String cost = n.cap() == Capabilities.CHECKPOINT_RESTORE && !setTid
                        ? "no restart: neither it nor CAP_SYS_ADMIN allows clone3 set_tid and PR_SET_MM_MAP" : n.cost();
                out.println((fatal ? "FAIL  " : "MISSING ") + name + ": " + cost);
            }
        }
    }

    private int finish() {
        out.println(failures == 0 ? "cryo can run here" : failures + " check(s) failed");
        return failures == 0 ? 0 : 1;
    }

    private static int freePid() throws Exception {
        int max = Integer.parseInt(ProcFile.read("/proc/sys/kernel/pid_max").trim());
        for (int p = max - 1; p > 300; p--) if (!Files.exists(Path.of("/proc/" + p))) return p;
        throw new Exception("no free pid");
    }
}
