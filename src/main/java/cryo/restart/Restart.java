package cryo.restart;

import cryo.checkpoint.Checkpoint;
import cryo.checkpoint.Timings;
import cryo.ipc.Ipc;
import cryo.ipc.IpcNamespace;
import cryo.ipc.IpcRecord;
import cryo.files.FdBroker;
import cryo.files.FileRecord;
import cryo.files.GhostFiles;
import cryo.files.FdTables;
import cryo.files.FdRecord;
import cryo.files.FileLocks;
import cryo.files.OpenFiles;
import cryo.image.DataCheck;
import cryo.image.Image;
import cryo.image.ImageException;
import cryo.image.PayloadRecord;
import cryo.image.Tree;
import cryo.memory.Mapping;
import cryo.memory.MemoryRestore;
import cryo.memory.SharedAnon;
import cryo.memory.VmaRecord;
import cryo.memory.Vmas;
import cryo.remote.Scratch;
import cryo.remote.Tracee;
import cryo.sys.Errno;
import cryo.sys.Fd;
import cryo.sys.Nr;
import cryo.sys.Proc;
import cryo.sys.Ptrace;
import cryo.sys.Regs;
import cryo.sys.SysException;
import cryo.sys.Wait;
import cryo.sys.WaitStatus;
import cryo.task.GroupLeaders;
import cryo.task.TaskState;
import cryo.task.Terminal;
import cryo.task.ThreadRecord;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Restart driven from the JVM (the kernel series' do_restart()): a stub process is spawned and seized, the
 * task is created from it with clone3(set_tid) so it gets its old pid, and then rebuilt by remote syscalls:
 * memory, files, signals, registers last. Until the final detach every created task is killed on failure
 * (PTRACE_O_EXITKILL covers cryo dying too), so a failed restart leaves nothing behind.
 */
public final class Restart {
    /**
     * newIpcNamespace: put the tree in a new IPC namespace even if it shared cryo's at checkpoint. detach: cryo
     * will not wait for the root (it cannot keep a terminal's foreground job in front). ghostDir: where a
     * deleted file whose directory is gone is recreated (--ghost-dir), or null.
     */
    public record Options(boolean newIpcNamespace, Map<String, Integer> inheritFds, Consumer<String> log, boolean detach,
                          Path ghostDir) {
        public Options(boolean newIpcNamespace, Map<String, Integer> inheritFds, Consumer<String> log) {
            this(newIpcNamespace, inheritFds, log, false, null);
        }
    }

    private static final int CLONE_PARENT = 0x8000, CLONE_NEWIPC = 0x08000000;
    /** A thread: CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM. */
    private static final long CLONE_THREAD_FLAGS = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000;
    private static final int PROT_RW = 3, PROT_RX = 5, MAP_PRIVATE_ANON_FIXED_NOREPLACE = 0x22 | 0x100000;
    private static final long GADGET = 4096, HOLE = GADGET + Scratch.SIZE;

    private final Image image;
    private final Options opts;
    private final List<Integer> created = new ArrayList<>();
    private final List<IpcRecord> createdIpc = new ArrayList<>();
    private final boolean newIpcNs;
    private final FdTables fdTables;
    /** Temporary leaders of the groups and sessions whose leader is gone. */
    private final GroupLeaders groupLeaders;
    /** The terminal to hand to the restored foreground job, decided in preflight. */
    private Terminal.Handover terminal;
    /** Checks the page data of the image in the background from the start (ImageReader.Data.LATER). */
    private DataCheck data;
    /** The image's files, and the ghost files recreated for this restart (GhostFiles.files). */
    private Map<Integer, FileRecord> files;

    private Restart(Image image, Options opts) {
        this.image = image;
        this.opts = opts;
        this.fdTables = FdTables.of(image.tree);
        this.newIpcNs = opts.newIpcNamespace() || (image.head.flags() & Checkpoint.FLAG_OWN_IPC_NS) != 0;
        Image.ProcessImage root = image.processes.get(image.tree.root().pid());
        this.groupLeaders = new GroupLeaders(image.tree, root == null ? null : root.task);
    }

    /** Restores the image; returns the root pid, detached and running. */
    public static int run(Image image, Options opts) throws ImageException, SysException, IOException {
        return new Restart(image, opts).restore();
    }

    private int restore() throws ImageException, SysException, IOException {
        List<PayloadRecord> payloads = new ArrayList<>();
        image.shmPages.values().forEach(payloads::addAll);
        image.shmemPages.values().forEach(payloads::addAll);
        for (Image.ProcessImage p : image.processes.values()) payloads.addAll(p.pages);
        image.ghostData.values().forEach(payloads::addAll);
        try (DataCheck check = DataCheck.start(payloads)) {
            data = check;
            return restoreChecked();
        }
    }

    private int restoreChecked() throws ImageException, SysException, IOException {
        terminal = Preflight.run(image, opts, groupLeaders, newIpcNs);
        Timings.mark("preflight");
        int brokerFd = 3;
        List<VmaRecord> allVmas = new ArrayList<>();
        for (Image.ProcessImage p : image.processes.values()) {
            for (FdRecord f : p.fds) brokerFd = Math.max(brokerFd, f.fd() + 1);
            allVmas.addAll(p.vmas);
        }
        Map<Long, Integer> shmem = new HashMap<>();
        boolean ok = false;
        try (GhostFiles ghosts = GhostFiles.recreate(image.ghosts, image.ghostData, opts.ghostDir(), data);
             FdBroker broker = new FdBroker(brokerFd);
             OpenFiles.Opener opener = new OpenFiles.Opener(image, files = ghosts.files(image.files, image.ghosts), opts.inheritFds())) {
            Tracee stub = spawnStub(broker);
            long hole = findHole(allVmas, stub.tid);
            makeGadget(stub, hole);
            shmem.putAll(SharedAnon.restore(image.shmem.values(), image.shmemPages, data));
            int root = image.tree.root().pid();
            // Each process gets its memory before its children are forked from it, so that they inherit the
            // pages they shared copy-on-write (SysV segments must exist by then, in the root's namespace).
            Map<Integer, Tracee> tasks = createTree(stub, hole, (p, t) -> {
                if (p.pid() == root) {
                    ipc(root, () -> {
                        Ipc.restore(image.ipc.values(), image.shmPages, newIpcNs, createdIpc, data);
                        return null;
                    });
                }
                MemoryRestore.restoreProcess(t, image.processes.get(p.pid()), p.pid() == root ? null : image.processes.get(p.ppid()),
                        files, broker, shmem, opener, data, hole, hole + HOLE);
                Timings.mark("memory of " + p.pid());
            });
            killCreated(stub.tid);
            Timings.mark("stub and tree");
            List<Tracee> ready = new ArrayList<>();
            for (Image.ProcessImage p : image.processes.values()) {
                if (!p.entry.zombie()) ready.addAll(restoreProcess(tasks.get(p.entry.pid()), p, broker, hole, opener));
            }
            ipc(root, () -> {
                Ipc.destroyMarked(image.ipc.values());
                return null;
            });
            // Every fd is in place: /proc files go to their offsets now that every task has its final memory;
            // cryo lets go of its own pipe ends and FIFO holders before any task runs, or a released writer
            // would still find a reader (cryo) instead of EPIPE.
            opener.finish();
            Terminal.handOver(terminal);
            // Children first: a released parent may kill a child at once (ESRCH then only means that).
            for (Tracee t : ready.reversed()) {
                try {
                    Ptrace.detach(t.tid, 0);
                } catch (SysException e) {
                    if (e.errno() != Errno.ESRCH) throw e;
                }
            }
            Timings.mark("detach");
            ok = true;
            return image.tree.root().pid();
        } finally {
            for (int fd : shmem.values()) Fd.close(fd);
            if (!ok) {
                Terminal.release(terminal);
                killCreated(-1);
                if (!newIpcNs) Ipc.remove(createdIpc);   // a new namespace goes away with its last task
            }
        }
    }

    /** What createTree does with each live process once it exists, before any child is forked from it. */
    private interface Created {
        void accept(Tree.Process p, Tracee t) throws SysException, IOException, ImageException;
    }

    /**
     * Creates every process from its real parent, parents first: the root from the stub with CLONE_PARENT
     * (so cryo is its parent), the others by clone3 in their parent with their exit signal. A session
     * leader calls setsid() before its children exist, so they inherit the session; process groups are
     * joined once every leader exists (setpgid(2) needs the group in the caller's session). Zombies then
     * exit with their status, and the exit signal this sends their parent is taken away again. Each live
     * process is handed to `created` as soon as it exists, before any child of its is forked from it.
     */
    private Map<Integer, Tracee> createTree(Tracee stub, long hole, Created created) throws SysException, ImageException, IOException {
        Map<Integer, Tracee> tasks = new LinkedHashMap<>();
        int root = image.tree.root().pid();
        GroupLeaders.Factory factory = (parent, pid, flags, exitSignal) -> {
            Tracee t = createTask(parent, pid, flags, exitSignal);
            t.useSyscallAt(hole);
            t.useScratch(hole + GADGET, Scratch.SIZE);
            return t;
        };
        for (Tree.Process p : image.tree.processes()) {
            Tracee parent = p.pid() == root ? stub : tasks.get(p.ppid());
            long flags = p.pid() == root ? CLONE_PARENT | (newIpcNs ? CLONE_NEWIPC : 0) : fdTables.cloneFlags(p);
            Tracee sessionLeader = p.pid() == root ? groupLeaders.rootSessionLeader(stub, factory) : groupLeaders.sessionLeaderFor(p, tasks, factory);
            if (sessionLeader != null) flags |= GroupLeaders.cloneParent();   // its exit signal is the leader's
            Tracee t = factory.create(sessionLeader != null ? sessionLeader : parent, p.pid(), flags,
                    p.pid() == root || sessionLeader != null ? 0 : p.exitSignal());
            if (p.sid() == p.pid()) t.syscall("setsid", Nr.SETSID);
            tasks.put(p.pid(), t);
            if (!p.zombie()) created.accept(p, t);
        }
        for (Tree.Process p : image.tree.processes()) {
            if (p.pgid() == p.pid() && p.sid() != p.pid()) tasks.get(p.pid()).syscall("setpgid(0, 0)", Nr.SETPGID, 0, 0);
        }
        groupLeaders.makeGroups(tasks, factory);
        for (Tree.Process p : image.tree.processes()) {
            if (p.pgid() != p.pid() && (tasks.containsKey(p.pgid()) || groupLeaders.leads(p.pgid()))) {
                tasks.get(p.pid()).syscall("setpgid(0, " + p.pgid() + ")", Nr.SETPGID, 0, p.pgid());
            }
        }
        Map<Integer, Long> drain = new LinkedHashMap<>(groupLeaders.end(tasks));
        this.created.removeAll(groupLeaders.created());
        for (Tree.Process p : image.tree.processes()) {
            if (!p.zombie()) continue;
            Tracee z = tasks.get(p.pid());
            z.syscall("prctl(PR_SET_NAME)", Nr.PRCTL, 15, z.putString(0, p.comm()));
            TaskState.restoreZombieCredentials(z, p.zombieCreds());
            z.exitAs(p.waitStatus());
            if (p.exitSignal() != 0) drain.merge(p.ppid(), 1L << (p.exitSignal() - 1), (x, y) -> x | y);
        }
        for (var e : drain.entrySet()) drainSignals(tasks.get(e.getKey()), e.getValue());
        return tasks;
    }

    /** Runs IPC work in the restored tree's namespace: the new one of the root, or cryo's own. */
    private <T> T ipc(int root, java.util.concurrent.Callable<T> work) throws SysException, IOException, ImageException {
        try {
            return IpcNamespace.run(newIpcNs ? root : 0, work);
        } catch (SysException | IOException | ImageException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException(e);
        }
    }

    /** Dequeues the signals in mask that are pending in t (rt_sigtimedwait with a zero timeout). */
    private static void drainSignals(Tracee t, long mask) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment args = a.allocate(24);
            args.set(JAVA_LONG, 0, mask);       // sigset
            args.set(JAVA_LONG, 8, 0);          // timespec {0, 0}
            args.set(JAVA_LONG, 16, 0);
            long set = t.put(0, args);
            while (t.call(Nr.RT_SIGTIMEDWAIT, null, set, 0, set + 8, 8) > 0) {
                // one signal taken; look for more
            }
        }
    }

    // ---------------------------------------------------------------- the stub and task creation

    private Tracee spawnStub(FdBroker broker) throws SysException, IOException, ImageException {
        int pid = Stub.spawn(broker);
        created.add(pid);
        // clone3 with exit_signal SIGCHLD is a fork to ptrace (kernel/fork.c): auto-attach needs TRACEFORK too.
        Tracee stub = Tracee.seize(pid, Ptrace.O_TRACESYSGOOD | Ptrace.O_TRACECLONE | Ptrace.O_TRACEFORK
                | Ptrace.O_TRACEVFORK | Ptrace.O_EXITKILL);
        Ptrace.setSigmask(pid, ~0L);
        stub.useSyscallAt(Stub.SYSCALL_INSN);
        broker.moveIntoPlace(stub);
        byte[] xstate = Ptrace.getXstate(pid);
        if (xstate.length != image.head.xstateSize()) {
            throw new ImageException("record HEAD: field 'xstate_size' is " + image.head.xstateSize() + " bytes, this CPU has " + xstate.length);
        }
        return stub;
    }

    /** A free range for the gadget page and scratch: outside every VMA of the image and of the stub. */
    private static long findHole(List<VmaRecord> vmas, int stubPid) throws IOException, ImageException {
        List<long[]> used = new ArrayList<>();
        for (VmaRecord v : vmas) used.add(new long[]{v.start(), v.end()});
        for (Mapping m : Mapping.read(stubPid)) used.add(new long[]{m.start(), m.end()});
        used.sort((x, y) -> Long.compare(x[0], y[0]));
        long at = 0x100000;
        for (long[] u : used) {
            if (u[0] >= at + HOLE) break;
            at = Math.max(at, u[1]);
        }
        if (at + HOLE > Vmas.TASK_SIZE) throw new ImageException("no free address range for cryo's gadget page in the image's layout");
        return at;
    }

    /** Maps [hole, hole+HOLE) in the stub: a page with a syscall instruction, then the scratch area. */
    private static void makeGadget(Tracee stub, long hole) throws SysException {
        long r = stub.syscall("mmap(gadget)", Nr.MMAP, hole, HOLE, PROT_RW, MAP_PRIVATE_ANON_FIXED_NOREPLACE, -1, 0);
        if (r != hole) throw new SysException("remote mmap(gadget) in the stub landed at 0x" + Long.toHexString(r), Errno.EINVAL);
        stub.useScratch(hole + GADGET, Scratch.SIZE);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment insn = a.allocate(2);
            insn.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 0, (byte) 0x0f);
            insn.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 1, (byte) 0x05);
            cryo.sys.ProcessVm.write(stub.tid, insn, hole);
        }
        stub.syscall("mprotect(gadget)", Nr.MPROTECT, hole, GADGET, PROT_RX);
    }

    /** clone3 with set_tid in parent: the child gets its checkpointed pid and is auto-attached. */
    private Tracee createTask(Tracee parent, int pid, long flags, int exitSignal) throws SysException, ImageException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment args = a.allocate(88);
            args.set(JAVA_LONG, 0, flags);
            args.set(JAVA_LONG, 32, exitSignal);
            args.set(JAVA_LONG, 64, parent.scratch() + 128);   // set_tid
            args.set(JAVA_LONG, 72, 1);                        // set_tid_size
            parent.put(0, args);
            MemorySegment tid = a.allocate(8);
            tid.set(java.lang.foreign.ValueLayout.JAVA_INT, 0, pid);
            parent.put(128, tid);
            long r = parent.call(Nr.CLONE3, null, parent.scratch(), 88);
            if (r == -Errno.EEXIST) throw new ImageException("pid " + pid + " is in use");
            if (r < 0) throw new SysException("remote clone3(set_tid=" + pid + ") in task " + parent.tid, (int) -r);
            created.add((int) r);
            return Tracee.adopt((int) r);
        }
    }

    // ---------------------------------------------------------------- one process

    /**
     * Rebuilds one process in its task t; returns its threads, stopped with their final registers loaded,
     * for the caller to detach with every other task.
     */
    private List<Tracee> restoreProcess(Tracee t, Image.ProcessImage p, FdBroker broker, long hole,
                                        OpenFiles.Opener opener)
            throws SysException, IOException, ImageException {
        if (fdTables.fills(p.entry.pid())) closeInherited(t, broker.remoteFd);   // else its table's first user did
        OpenFiles.restore(t, broker, p.fds, opener);
        TaskState.restoreTask(t, p.task, p.deletedCwd, p.deletedRoot, w -> opts.log().accept("warning: " + w));
        List<Tracee> threads = new ArrayList<>();
        for (ThreadRecord th : p.threads.subList(1, p.threads.size())) {
            Tracee nt = createTask(t, th.tid(), CLONE_THREAD_FLAGS, 0);
            nt.useSyscallAt(hole);
            nt.useScratch(hole + GADGET, Scratch.SIZE);
            TaskState.restoreThread(nt, p.entry.pid(), th);
            TaskState.restoreCredentials(nt, p.task);
            long r = nt.call(Nr.GETPID, TaskState.finalRegs(nt, th));
            if (r < 0) throw new SysException("remote getpid in thread " + nt.tid, (int) -r);
            Ptrace.setSigmask(nt.tid, th.sigmask());
            threads.add(nt);
        }
        OpenFiles.restoreThreadFiles(t, broker, opener);
        ThreadRecord lead = p.threads.getFirst();
        TaskState.restoreThread(t, p.entry.pid(), lead);
        fdTables.closeStrays(t, p.entry.pid(), p.fds, broker.remoteFd);
        FileLocks.restore(t, image, p);
        TaskState.restoreCredentials(t, p.task);
        t.syscall("munmap(scratch)", Nr.MUNMAP, hole + GADGET, Scratch.SIZE);
        Regs fin = TaskState.finalRegs(t, lead);
        // The last call unmaps the gadget it runs from; its syscall-exit stop loads the final registers.
        long r = t.call(Nr.MUNMAP, fin, hole, GADGET);
        if (r != 0) throw new SysException("remote munmap(gadget) in task " + t.tid, (int) -r);
        Ptrace.setSigmask(t.tid, lead.sigmask());
        threads.addFirst(t);
        Timings.mark("files, task state, threads of " + p.entry.pid());
        return threads;
    }

    /** Closes what the stub inherited from cryo (the JVM's own fds) except 0-2 and the broker socket. */
    private static void closeInherited(Tracee t, int brokerFd) throws SysException, IOException {
        try (var s = Files.list(Path.of("/proc/" + t.tid + "/fd"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                int fd = Integer.parseInt(p.getFileName().toString());
                if (fd > 2 && fd != brokerFd) t.call(Nr.CLOSE, null, fd);
            }
        }
    }

    /** Kills and reaps the created task `only`, or every created task when only is -1. */
    private void killCreated(int only) {
        for (int pid : List.copyOf(created)) {
            if (only != -1 && pid != only) continue;
            try {
                Proc.kill(pid, Proc.SIGKILL);
                for (int i = 0; i < 100; i++) {
                    WaitStatus st = Wait.waitFor(pid, Tracee.WAIT_MS);
                    if (st.gone()) break;
                }
            } catch (SysException e) {
                if (e.errno() != Errno.ESRCH && e.errno() != Errno.ECHILD) opts.log().accept("warning: could not kill task " + pid + ": " + e.getMessage());
            }
            created.remove((Integer) pid);
        }
    }

    /**
     * Foreground: waits for the restored root like a parent; returns the shell-style exit status. A job that
     * was handed the terminal stops and continues with cryo, as its shell's job (Terminal.jobStopped).
     */
    public static int waitForExit(int pid) throws SysException {
        WaitStatus st;
        while ((st = Wait.blocking(pid, Terminal.handedOver() ? Wait.WUNTRACED : 0)).stopped()) Terminal.jobStopped(st.stopSignal());
        Terminal.takeBack();
        return st.exited() ? st.exitCode() : 128 + st.termSignal();
    }
}
