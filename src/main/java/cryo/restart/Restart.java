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
import cryo.memory.Mapping;
import cryo.memory.MemoryRestore;
import cryo.memory.SharedAnon;
import cryo.memory.VmaRecord;
import cryo.ns.ContainerRestore;
import cryo.ns.Root;
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
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

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
     * deleted file whose directory is gone is recreated (--ghost-dir), or null. freshPidNs: restart a tree
     * that is not a container in a new pid namespace under an init of cryo's (--fresh-pid-ns, PidNamespaceInit).
     */
    public record Options(boolean newIpcNamespace, Map<String, Integer> inheritFds, Consumer<String> log, boolean detach,
                          Path ghostDir, boolean freshPidNs, cryo.lazy.LazyRestart lazy) {
        public Options(boolean newIpcNamespace, Map<String, Integer> inheritFds, Consumer<String> log) {
            this(newIpcNamespace, inheritFds, log, false, null, false);
        }

        public Options(boolean newIpcNamespace, Map<String, Integer> inheritFds, Consumer<String> log, boolean detach,
                       Path ghostDir, boolean freshPidNs) {
            this(newIpcNamespace, inheritFds, log, detach, ghostDir, freshPidNs, null);
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
    /** Creates the tasks; maps the image's pids to the new host pids. */
    private TreeCreator creator;
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

    /**
     * The one way from an image's bytes to the Image restart restores, or an ImageException naming record and
     * field: every record decoded and checked (ImageReader.read, Image.of), then what restart needs of the
     * image that no state of this machine decides (Preflight.ofImage, and the fd tables and group leaders it
     * plans from the TREE). cryo restart and the fuzzer (cryo.image.ImageFuzzTest) both call this. data:
     * restart passes LATER (DataCheck checks the page data meanwhile), the fuzzer CHECK.
     */
    public static Image validate(MemorySegment mapped, cryo.image.ImageReader.Data data, Map<String, Integer> inheritFds, boolean freshPidNs)
            throws ImageException {
        Image image = Image.of(cryo.image.ImageReader.read(mapped, data));
        Preflight.ofImage(image, inheritFds, freshPidNs);
        FdTables.of(image.tree);
        Image.ProcessImage root = image.processes.get(image.tree.root().pid());
        new GroupLeaders(image.tree, root == null ? null : root.task);
        return image;
    }

    /**
     * Restores the image; returns the root's host pid (a container's init gets a new one), or with --fresh-pid-ns
     * the host pid of cryo's init, cryo's child, which exits as the root does; detached and running.
     */
    public static int run(Image image, Options opts) throws ImageException, SysException, IOException {
        return new Restart(image, opts).restore();
    }

    private int restore() throws ImageException, SysException, IOException {
        List<PayloadRecord> payloads = new ArrayList<>();
        image.shmPages.values().forEach(payloads::addAll);
        image.shmemPages.values().forEach(payloads::addAll);
        for (Image.ProcessImage p : image.processes.values()) payloads.addAll(p.pages);
        if (opts.lazy() != null) payloads.removeAll(opts.lazy().records());   // checked by the page server before their first copy
        image.ghostData.values().forEach(payloads::addAll);
        payloads.addAll(image.mounts().allData());
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
        cryo.janitor.Journal.pin();   // what a killed restart leaves, its janitor removes (settleRestart below)
        boolean ok = false;
        try (GhostFiles ghosts = GhostFiles.recreate(image.ghosts, image.ghostData, opts.ghostDir(), data);
             FdBroker broker = new FdBroker(brokerFd);
             OpenFiles.Opener opener = new OpenFiles.Opener(image, files = ghosts.files(image.files, image.ghosts), opts.inheritFds())) {
            Tracee stub = spawnStub(broker);
            long hole = findHole(allVmas, stub.tid);
            makeGadget(stub, hole);
            Tracee init = opts.freshPidNs() ? PidNamespaceInit.create(stub) : null;
            if (init != null) created.add(init.tid);
            if (init != null) opener.root(Root.of(init.tid));   // its /proc is the tree's (ProcfsFile)
            shmem.putAll(SharedAnon.restore(image.shmem.values(), image.shmemPages, data));
            int root = image.tree.root().pid();
            creator = new TreeCreator(image, fdTables, groupLeaders, created, hole, GADGET, init != null);
            long rootFlags = (init != null ? 0 : CLONE_PARENT) | (newIpcNs ? CLONE_NEWIPC : 0) | (image.namespaces != null ? image.namespaces.cloneFlags() : 0);
            // Each process gets its memory before its children are forked from it, so that they inherit the
            // pages they shared copy-on-write (SysV segments must exist by then, in the root's namespace).
            Map<Integer, Tracee> tasks = creator.createTree(init != null ? init : stub, rootFlags, stub, (p, t) -> {
                if (p.pid() == root) {
                    // A container's init, alone in its fresh namespaces: their state before any child exists.
                    if (image.namespaces != null) ContainerRestore.inInit(t, image.namespaces);
                    if (image.namespaces != null && image.namespaces.has(cryo.ns.Namespace.MNT)) cryo.mounts.Mounts.restore(t, t.tid, image, data);
                    // The image's paths are the container's from now on: under its init's root and mounts.
                    if (image.namespaces != null) opener.root(Root.of(t.tid));
                    ipc(t.tid, () -> {
                        Ipc.restore(image.ipcLimits, image.ipc.values(), image.shmPages, newIpcNs, createdIpc, data);
                        return null;
                    });
                }
                cryo.tty.ControllingTerminals.acquire(t, p.pid(), image, broker, opener);   // after its setsid, before its children
                MemoryRestore.restoreProcess(t, image.processes.get(p.pid()), p.pid() == root ? null : image.processes.get(p.ppid()),
                        files, broker, shmem, opener, data, hole, hole + HOLE, opts.lazy() != null ? opts.lazy() : cryo.memory.LazyMemory.NONE);
                Timings.mark("memory of " + p.pid());
                cryo.sys.KillPoint.reach("restart-memory");
            });
            cryo.sys.KillPoint.reach("restart-tasks-created");
            killCreated(stub.tid);
            cryo.tty.ControllingTerminals.foreground(image, tasks, broker, opener);   // every group exists now
            Timings.mark("stub and tree");
            List<Tracee> ready = new ArrayList<>();
            for (Image.ProcessImage p : image.processes.values()) {
                if (!p.entry.zombie()) ready.addAll(restoreProcess(tasks.get(p.entry.pid()), p, broker, hole, opener));
            }
            ipc(creator.pids.host(root), () -> {
                Ipc.destroyMarked(image.ipc.values(), image.ipcLimits);
                return null;
            });
            // Every fd is in place: /proc files go to their offsets now that every task has its final memory;
            // cryo lets go of its own pipe ends and FIFO holders before any task runs, or a released writer
            // would still find a reader (cryo) instead of EPIPE.
            cryo.sys.KillPoint.reach("restart-before-lift");
            cryo.netlock.NetworkLock.lift(image.netLock, opts.log());   // sockets back, tasks not yet running
            cryo.sys.KillPoint.reach("restart-after-lift");
            opener.finish();   // TCP connections leave repair mode here: what they send must get through
            if (terminal != null) terminal = terminal.onHost(creator.pids::host);
            Terminal.handOver(terminal);
            cryo.task.JobStop.queue(image, creator.pids::host);   // stopped jobs stop again as soon as they are let go
            if (init != null) PidNamespaceInit.start(init, root, hole, HOLE);
            cryo.janitor.Journal.tasks(hostPids(init));   // until settled, a kill undoes a half-released tree
            // Children first: a released parent may kill a child at once (ESRCH then only means that).
            for (Tracee t : opts.lazy() != null && opts.lazy().release(ready.reversed()) ? List.<Tracee>of() : ready.reversed()) {
                try {
                    Ptrace.detach(t.tid, 0);
                } catch (SysException e) {
                    if (e.errno() != Errno.ESRCH) throw e;
                }
                cryo.sys.KillPoint.reach("restart-detached");
                cryo.sys.HoldPoint.reach("releasing");
            }
            if (opts.lazy() == null || opts.detach()) cryo.janitor.Journal.settleRestart();   // committed: the tree's now
            cryo.sys.KillPoint.reach("restart-committed");
            Timings.mark("detach");
            cryo.tty.JobModes.redraw(terminal != null ? terminal.group() : creator.pids.host(root));   // when it has the terminal's modes
            ok = true;
            return init != null ? init.tid : creator.pids.host(root);
        } finally {
            for (int fd : shmem.values()) Fd.close(fd);
            if (!ok) {
                Terminal.release(terminal);
                killCreated(-1);
                cryo.tty.SessionTerminal.end();   // the session that took cryo's terminal is gone: cryo's again
                if (!newIpcNs) Ipc.remove(createdIpc);   // a new namespace goes away with its last task
                cryo.janitor.Journal.undoRestart(opts.log());   // what is journaled and still there (a socket file made for a moment)
            }
        }
    }

    /** Host pids of the restored processes (and of cryo's init with --fresh-pid-ns). */
    private List<Integer> hostPids(Tracee init) {
        List<Integer> pids = new ArrayList<>();
        if (init != null) pids.add(init.tid);
        for (Image.ProcessImage p : image.processes.values()) if (!p.entry.zombie()) pids.add(creator.pids.host(p.entry.pid()));
        return pids;
    }

    /** Runs IPC work in the restored tree's namespace: the new one of the root, or cryo's own. */
    private <T> T ipc(int rootHostPid, java.util.concurrent.Callable<T> work) throws SysException, IOException, ImageException {
        try {
            return IpcNamespace.run(newIpcNs ? rootHostPid : 0, work);
        } catch (SysException | IOException | ImageException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException(e);
        }
    }

    // ---------------------------------------------------------------- the stub and task creation

    private Tracee spawnStub(FdBroker broker) throws SysException, IOException, ImageException {
        int pid = Stub.spawn(broker);
        created.add(pid);
        cryo.sys.KillPoint.reach("restart-stub-spawned");   // not yet seized: the stub dies by its PR_SET_PDEATHSIG
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
        TaskState.restoreTask(t, p.task, p.deletedCwd, p.deletedRoot, opener.root(), w -> opts.log().accept("warning: " + w));
        List<Tracee> threads = new ArrayList<>();
        for (ThreadRecord th : p.threads.subList(1, p.threads.size())) {
            Tracee nt = creator.createTask(t, th.tid(), CLONE_THREAD_FLAGS, 0);
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
        cryo.timers.PosixTimers.restore(t, threads, p.timers);   // once the threads and pending signals are back
        cryo.files.EpollSignalfds.add(t, threads, p, image);   // epoll items on signalfds, added in the task
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
        // Every task is killed before any is waited for, and the last created are reaped first: a pid
        // namespace's init (--fresh-pid-ns) dies only once every task of its namespace is reaped, which for a
        // task cryo traces is cryo's wait (zap_pid_ns_processes, kernel/pid_namespace.c).
        for (int pid : created) {
            if (only != -1 && pid != only) continue;
            try {
                Proc.kill(pid, Proc.SIGKILL);
            } catch (SysException e) {
                // gone already: reaped below
            }
        }
        for (int pid : List.copyOf(created).reversed()) {
            if (only != -1 && pid != only) continue;
            try {
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
        return exitStatus(st);
    }

    /** The shell-style status of the root's end st (reaped already), once cryo has its terminal back. */
    public static int exitStatus(WaitStatus st) {
        Terminal.takeBack();
        cryo.tty.SessionTerminal.end();
        return st.exited() ? st.exitCode() : 128 + st.termSignal();
    }
}
