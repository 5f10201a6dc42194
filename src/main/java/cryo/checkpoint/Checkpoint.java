package cryo.checkpoint;

import cryo.files.FileRecord;
import cryo.ipc.Ipc;
import cryo.ipc.IpcNamespace;
import cryo.ipc.IpcRecord;
import cryo.ipc.ShmPagesRecord;
import cryo.files.FileLocks;
import cryo.files.FdTables;
import cryo.files.FileTable;
import cryo.files.LockRecord;
import cryo.files.OpenFileRecord;
import cryo.files.OpenFiles;
import cryo.image.Head;
import cryo.image.ImageWriter;
import cryo.image.Refusal;
import cryo.image.Tree;
import cryo.memory.AddressSpace;
import cryo.memory.CowSharing;
import cryo.memory.Mapping;
import cryo.memory.PageMover;
import cryo.memory.SharedAnon;
import cryo.memory.VmaRecord;
import cryo.remote.GuardedScratch;
import cryo.remote.Tracee;
import cryo.ns.Container;
import cryo.ns.NamespacesRecord;
import cryo.ns.PidMap;
import cryo.sys.Errno;
import cryo.sys.Nr;
import cryo.sys.Proc;
import cryo.sys.Ptrace;
import cryo.sys.SysException;
import cryo.sys.Wait;
import cryo.task.DeletedCwd;
import cryo.task.DeletedCwdRecord;
import cryo.task.JobStop;
import cryo.task.JobStopRecord;
import cryo.task.GroupLeaders;
import cryo.task.ProcStat;
import cryo.task.TaskRecord;
import cryo.task.TaskState;
import cryo.task.ThreadRecord;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Checkpoint of a running tree from outside (the kernel series' do_checkpoint() for an external task):
 * freeze it (FrozenTree), read everything that will go into the image, and only then open the output and
 * stream the records, pages last. On any failure the tree is released exactly as it was. Every ptrace call
 * comes from the calling thread.
 */
public final class Checkpoint {
    /**
     * Options of one checkpoint. external: descriptions ("pipe:[123]") leading outside the tree that the user
     * will map at restart with --inherit-fd. fault is a test hook: "after-pages", "kill-target" or "hang-after-lock".
     */
    public record Options(boolean leaveRunning, boolean allowLeaks, Ipc.Selection ipc, Set<String> external, String fault,
                          Consumer<String> log, long ghostLimit) {
        /** No --ghost-limit: deleted files of any size are saved. */
        public Options(boolean leaveRunning, boolean allowLeaks, Ipc.Selection ipc, Set<String> external, String fault, Consumer<String> log) {
            this(leaveRunning, allowLeaks, ipc, external, fault, log, Long.MAX_VALUE);
        }
    }

    /** HEAD flag: the tree had an IPC namespace of its own, restart makes a new one. */
    public static final long FLAG_OWN_IPC_NS = 1;

    /** A container's pids and namespaces; for a plain tree the same pids and no NAMESPACES record. */
    private record ContainerDump(PidMap pids, NamespacesRecord record, cryo.mounts.MountsDump mounts) {
        static final ContainerDump NONE = new ContainerDump(PidMap.SAME, null, null);
    }

    /** What was written and how long the tree was frozen. */
    public record Result(long bytes, long pageBytes, long frozenNanos, int processes, int threads) {
    }

    /** What dumpProcess reads of one live process: all but its fds. */
    private record ProcessState(TaskRecord task, List<ThreadRecord> threads, AddressSpace.Dump memory,
                                List<cryo.timers.PosixTimerRecord> timers) {
    }

    /** Everything read from one live process before anything is written. */
    private record ProcessDump(TaskRecord task, List<ThreadRecord> threads, AddressSpace.Dump memory,
                               OpenFiles.Table files, List<cryo.timers.PosixTimerRecord> timers) {
    }

    private Checkpoint() {
    }

    public static Result run(int pid, Options opts, Output output) throws Refusal, SysException, IOException {
        return run(pid, opts, output, 0);
    }

    /** preCopy: rounds of memory copied while the tree runs before it is frozen (cryo.precopy); 0: none. */
    public static Result run(int pid, Options opts, Output output, int preCopy) throws Refusal, SysException, IOException {
        ProcStat stat = validateTarget(pid);
        Container container = Container.of(pid);   // null: a plain tree
        // Where the image goes is checked, and its file created, before the tree is touched.
        output.prepare();
        cryo.precopy.PreCopy pre = null;
        try {
            if (preCopy > 0) pre = cryo.precopy.PreCopy.run(pid, stat, preCopy, output, opts.log());
            Timings.mark("start");
            long t0 = System.nanoTime();
            FrozenTree tree = FrozenTree.freeze(pid, stat);
            Timings.mark("freeze");
            cryo.sys.HoldPoint.reach("frozen");
            boolean done = false;
            try (cryo.netlock.NetworkLock lock = cryo.netlock.NetworkLock.take(tree, opts)) {   // lifted on failure, before the tree is released
                if (pre != null) pre.frozen(tree);   // what was written since the last round
                if ("kill-target".equals(opts.fault())) Proc.kill(pid, Proc.SIGKILL);
                Result r = dump(tree, pid, container, opts, output, t0, lock, pre);
                done = true;
                return r;
            } catch (SysException e) {
                if (e.errno() == Errno.ESRCH || !Files.exists(Path.of("/proc/" + pid))) throw new Refusal(pid, "exited during checkpoint");
                throw e;
            } catch (ImageWriter.WriteFailed e) {
                throw output.failed(e.cause());
            } finally {
                if (!done) tree.release(opts.log());
            }
        } catch (ImageWriter.WriteFailed e) {
            throw output.failed(e.cause());   // while pre-copying
        } finally {
            if (pre != null) pre.release();
            output.abortUnlessCommitted();
        }
    }

    private static Result dump(FrozenTree tree, int root, Container container, Options opts, Output output, long t0, cryo.netlock.NetworkLock lock,
                               cryo.precopy.PreCopy pre)
            throws Refusal, SysException, IOException {
        // Everything that cannot be taken is collected, task by task and fd by fd, and refused at once.
        Refusal.Collector refused = new Refusal.Collector();
        checkTree(tree, root, container, refused);
        ContainerDump ns = container == null ? ContainerDump.NONE
                : new ContainerDump(container.pids(tree.tasks().keySet()), container.record(refused), cryo.mounts.Mounts.checkpoint(root, refused));
        FileTable files = new FileTable(tree.tasks());
        files.ghosts().limit(opts.ghostLimit());
        files.shareFdTables(FdTables.checkpoint(tree.liveParents(), refused));
        Map<Integer, Map<Integer, String>> fdLinks = new LinkedHashMap<>();
        Set<String> links = new HashSet<>();
        for (FrozenTree.Process p : tree.live()) {
            fdLinks.put(p.pid, OpenFiles.links(p.pid));
            links.addAll(fdLinks.get(p.pid).values());
        }
        // The walk of every other process's fds needs no ptrace: it runs beside the remote calls below.
        var scan = new java.util.concurrent.FutureTask<>(() -> FileTable.outsideHolders(tree.processes.keySet(), links));
        Thread.ofPlatform().name("cryo-outside-holders").daemon().start(scan);
        Map<Integer, ProcessState> states = new LinkedHashMap<>();
        int threads = 0;
        for (FrozenTree.Process p : tree.live()) {
            try {
                states.put(p.pid, dumpProcess(p, files, pre));
            } catch (Refusal r) {
                refused.add(r);
            }
            threads += p.threads.size();
        }
        Map<Integer, AddressSpace.Dump> memories = new LinkedHashMap<>();
        Map<Integer, Integer> parentOf = new HashMap<>();
        states.forEach((pid, st) -> memories.put(pid, st.memory()));
        tree.processes.values().forEach(p -> parentOf.put(p.pid, p.stat.ppid()));
        CowSharing.detect(memories, parentOf);
        Timings.mark("task state and memory maps");
        Map<String, List<FileTable.Holder>> outside = outsideHolders(scan);
        FdTables.refuseSharedOutside(fdLinks, outside, refused);
        Timings.mark("outside holders");
        Map<Integer, ProcessDump> dumps = new LinkedHashMap<>();
        for (FrozenTree.Process p : tree.live()) {
            // A process refused for its memory or state still has its fds looked at: every reason at once.
            ProcessState st = states.get(p.pid);
            try {
                OpenFiles.Table fds = OpenFiles.checkpoint(p.pid, fdLinks.get(p.pid), files, outside, opts.external());
                if (st != null) dumps.put(p.pid, new ProcessDump(st.task(), st.threads(), st.memory(), fds, st.timers()));
            } catch (Refusal r) {
                refused.add(r);
            }
        }
        files.eventLoops().resolve(refused);   // epoll items name descriptions met anywhere in the tree
        cryo.tty.ControllingTerminals.checkpoint(files, liveStats(tree), refused);   // sessions whose terminal is a pty of the tree
        for (FileRecord f : files.files()) {
            if (output.replaces(f.dev(), f.ino())) {
                refused.add(new Refusal("-o " + output.name() + " is " + f.path() + ", a file the tree has open or mapped: the image would replace it"));
            }
        }
        if (!opts.allowLeaks()) {
            Set<Integer> regular = new HashSet<>();
            Map<Integer, String> linkOf = new HashMap<>();
            for (ProcessDump d : dumps.values()) {
                for (var o : d.files().descriptions()) {
                    // A shared offset is what a split description would lose: devices and directories have none.
                    if (o.kind() == OpenFileRecord.Kind.PATH && files.file(o.file()).regular()) {
                        regular.add(o.objref());
                        linkOf.put(o.objref(), o.description());
                    }
                }
            }
            for (String leak : files.leaks(outside, linkOf, regular)) refused.add(new Refusal(leak));
            for (String leak : SharedAnon.leaks(memories.values().stream().flatMap(m -> m.vmas().stream()).toList(), tree.processes.keySet())) {
                refused.add(new Refusal(leak));
            }
        }
        Map<Integer, OpenFiles.Table> tables = new LinkedHashMap<>();
        dumps.forEach((pid, d) -> tables.put(pid, d.files()));
        List<LockRecord> locks = FileLocks.checkpoint(tables, files, refused);
        Map<Integer, ProcStat> stats = new HashMap<>();
        tree.processes.values().forEach(p -> stats.put(p.pid, p.stat));
        cryo.tty.TerminalRecord terminal = cryo.tty.OutsideTerminal.checkpoint(root, stats, tables, refused);

        boolean ownIpc = IpcNamespace.differs(root);
        String rootNs = IpcNamespace.of(root);
        for (FrozenTree.Process p : tree.live()) {
            if (!IpcNamespace.of(p.pid).equals(rootNs)) refused.add(p.pid, "is in another IPC namespace than the root " + root + ": not supported");
        }
        refused.throwIfAny();
        Set<Integer> attached = new HashSet<>();
        for (ProcessDump d : dumps.values()) {
            for (VmaRecord v : d.memory().vmas()) if (v.kind() == VmaRecord.Kind.SYSV) attached.add((int) v.shmem());
        }
        Ipc.Selection sel = ownIpc ? new Ipc.Selection(true, Set.of()) : opts.ipc();
        List<VmaRecord> allVmas = dumps.values().stream().flatMap(d -> d.memory().vmas().stream()).toList();
        try (Ipc.Dump ipc = IpcNamespace.run(ownIpc ? root : 0, () -> Ipc.checkpoint(sel, attached, ownIpc));
             SharedAnon.Dump shmem = SharedAnon.checkpoint(allVmas)) {
            return write(tree, root, opts, output, t0, files, dumps, locks, threads, ipc, shmem, ownIpc, ns, lock, terminal, pre);
        } catch (Refusal | SysException | IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException(e);
        }
    }

    private static Result write(FrozenTree tree, int root, Options opts, Output output, long t0, FileTable files,
                                Map<Integer, ProcessDump> dumps, List<LockRecord> locks, int threads, Ipc.Dump ipc, SharedAnon.Dump shmem,
                                boolean ownIpc, ContainerDump ns, cryo.netlock.NetworkLock lock, cryo.tty.TerminalRecord terminal,
                                cryo.precopy.PreCopy pre)
            throws Refusal, SysException, IOException {
        List<Tree.Process> entries = new ArrayList<>();
        for (FrozenTree.Process p : tree.processes.values()) {
            int[] tids = p.threads.stream().mapToInt(t -> t.tid).toArray();
            entries.add(new Tree.Process(p.pid, p.pid, p.stat.ppid(), p.stat.pgid(), p.stat.sid(), p.stat.exitSignal(),
                    p.zombie, p.zombie ? p.stat.exitCode() : 0, tids, p.stat.comm, files.fdTableOf(p.pid),
                    p.zombie ? TaskState.zombieCredentials(p.stat) : new int[0]));
        }
        byte[] xstate = dumps.get(root).threads().getFirst().xstate();
        cryo.memory.Vdso vdso = cryo.memory.Vdso.ofThisKernel();
        Head head = new Head(Head.VERSION, "x86_64", Proc.kernelRelease(), 4096, xstate.length, xfeatures(xstate),
                System.currentTimeMillis(), ownIpc ? FLAG_OWN_IPC_NS : 0, vdso.size(), vdso.sha256());

        WritableByteChannel ch = output.open();
        ImageWriter w = pre != null ? pre.writer() : new ImageWriter(ch, output.seekable());
        w.write(head);
        lock.write(w);
        if (!ns.pids().identity()) w.pids(ns.pids());   // host pids in, the container's own pids out
        w.write(new Tree(entries));
        if (ns.record() != null) w.write(ns.record());
        if (ns.mounts() != null) ns.mounts().write(w);
        for (FileRecord f : files.files()) w.write(f);
        for (var pipe : files.pipes()) w.write(pipe);
        files.ghosts().write(w);
        files.unnamed().write(w);
        for (var o : files.objects()) w.write(o);
        if (ipc.limits() != null) w.write(ipc.limits());
        for (IpcRecord o : ipc.objects()) w.write(o);
        for (ShmPagesRecord p : ipc.pages()) w.write(p);
        for (var r : shmem.records()) w.write(r);
        for (ProcessDump d : dumps.values()) for (var o : d.files().descriptions()) w.write(o);
        files.eventLoops().write(w);
        for (var iw : files.inotifyWatches()) w.write(iw);
        for (String lost : files.warnings()) opts.log().accept("warning: " + lost);
        cryo.sockets.UnixSocketFile.write(files, w);
        cryo.inet.UdpSocketFile.write(files, w);
        cryo.inet.TcpSocketFile.write(files, w);
        if (terminal != null) w.write(terminal);
        cryo.tty.Ptys.write(files, w);
        long pageBytes = 0;
        for (ProcessDump d : dumps.values()) cryo.memory.Progress.expect(d.memory().pageBytes());
        for (var e : dumps.entrySet()) {
            ProcessDump d = e.getValue();
            w.write(d.task());
            FrozenTree.Process fp = tree.processes.get(e.getKey());
            JobStopRecord stop = JobStop.checkpoint(fp.pid, fp.threads, fp.stat);
            if (stop != null) w.write(stop);
            DeletedCwdRecord cwd = DeletedCwd.checkpoint(d.task().pid(), d.task().cwd());
            if (cwd != null) w.write(cwd);
            if (cwd != null && DeletedCwd.rootRemoved(d.task().pid())) w.write(new cryo.task.DeletedRootRecord(d.task().pid()));
            for (ThreadRecord t : d.threads()) w.write(t);
            for (var t : d.timers()) w.write(t);
            w.write(d.memory().mm());
            for (VmaRecord v : d.memory().vmas()) w.write(v);
            for (var r : d.memory().inheritedRecords()) w.write(r);
            for (var fd : d.files().fds()) w.write(fd);
            var pages = pre == null ? d.memory().pages() : pre.pagesToCopy(e.getKey(), ns.pids().ns(e.getKey()), d.memory().pages(), w);
            cryo.sys.KillPoint.reach("dumping-pages");
            PageMover.dump(e.getKey(), ns.pids().ns(e.getKey()), pages, d.memory().unreadablePages(), w);
            pageBytes += d.memory().pageBytes();
        }
        for (LockRecord l : locks) w.write(l);
        Timings.mark("pages");
        if ("after-pages".equals(opts.fault())) throw new IOException("test fault after-pages");
        w.finish();
        cryo.sys.KillPoint.reach("before-commit");
        output.commit();
        Timings.mark("commit");
        long frozen = System.nanoTime() - t0;
        if (opts.leaveRunning()) {
            tree.release(opts.log());
        } else {
            lock.hold();   // the image is committed: the lock stays until the restart
            cryo.inet.TcpSocketFile.beforeKill(files);
            kill(tree, opts.log());
        }
        return new Result(w.written(), pageBytes, frozen, tree.processes.size(), threads);
    }

    private static Map<String, List<FileTable.Holder>> outsideHolders(java.util.concurrent.FutureTask<Map<String, List<FileTable.Holder>>> scan)
            throws IOException {
        try {
            return scan.get();
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof IOException io) throw io;
            throw new IOException("scan of other processes' fds: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        }
    }

    /**
     * Reads one frozen process but its fds: remote calls in its threads, guarded (GuardedScratch: cryo may be
     * killed at any moment), then maps and pagemap once the scratch memory is gone again.
     */
    private static ProcessState dumpProcess(FrozenTree.Process p, FileTable files, cryo.precopy.PreCopy pre) throws Refusal, SysException, IOException {
        int pid = p.pid;
        List<Mapping> maps = pre == null ? Mapping.read(pid) : pre.ownMaps(pid, Mapping.read(pid));
        Tracee leader = p.leader();
        DeletedCwd.checkRoot(pid);
        TaskRecord task;
        List<ThreadRecord> threads = new ArrayList<>();
        List<cryo.timers.PosixTimerRecord> timers;
        long brk;
        try (GuardedScratch scratch = GuardedScratch.map(p.threads, AddressSpace.findSyscallInsn(pid, maps))) {
            task = TaskState.checkpointTask(leader, p.stat);
            for (int i = 0; i < p.threads.size(); i++) {
                threads.add(TaskState.checkpointThread(p.threads.get(i), pid, p.masks.get(i)));
            }
            var posixTimers = cryo.timers.PosixTimers.checkpoint(leader, pid, task, threads);   // moves the timers' own pending signals
            task = posixTimers.task();
            threads = posixTimers.threads();
            timers = posixTimers.timers();
            brk = AddressSpace.brk(leader);
        }
        AddressSpace.Dump mem = AddressSpace.checkpoint(pid, brk, maps, statMm(p.stat), files);
        return new ProcessState(task, threads, mem, timers);
    }

    private static ProcStat validateTarget(int pid) throws Refusal, IOException {
        if (pid <= 0) throw new Refusal(pid, "is not a valid pid");
        ProcStat stat = ProcStat.read(pid);
        if (stat == null) throw new Refusal(pid, "no such process");
        if (stat.kernelThread()) throw new Refusal(pid, "is a kernel thread (" + stat.comm + ")");
        if (stat.state == 'Z') throw new Refusal(pid, "is a zombie");
        if (pid == ProcessHandle.current().pid()) throw new Refusal(pid, "is cryo itself");
        for (ProcessHandle h = ProcessHandle.current(); h != null; h = h.parent().orElse(null)) {
            if (h.pid() == pid) throw new Refusal(pid, "is an ancestor of cryo");
        }
        return stat;
    }

    /**
     * Sessions and process groups must be recreatable: their leader is in the tree or gone (GroupLeaders), or
     * they are the root's (which the restored root takes from cryo restart, like a shell job).
     */
    private static void checkTree(FrozenTree tree, int root, Container container, Refusal.Collector refused) throws IOException {
        List<Integer> live = tree.live().stream().map(p -> p.pid).toList();
        if (container == null) Container.checkPlainTree(live, refused);
        else container.check(live, tree.processes.keySet(), refused);
        Map<Integer, ProcStat> stats = new LinkedHashMap<>();
        for (FrozenTree.Process p : tree.processes.values()) stats.put(p.pid, p.stat);
        GroupLeaders.check(stats, root, refused);
    }

    private static Map<Integer, ProcStat> liveStats(FrozenTree tree) {
        Map<Integer, ProcStat> m = new LinkedHashMap<>();
        for (FrozenTree.Process p : tree.live()) m.put(p.pid, p.stat);
        return m;
    }

    /** start_code, end_code, start_stack, start_data, end_data, start_brk, arg_start, arg_end, env_start, env_end. */
    private static long[] statMm(ProcStat s) {
        return new long[]{s.field(26), s.field(27), s.field(28), s.field(45), s.field(46), s.field(47), s.field(48),
                s.field(49), s.field(50), s.field(51)};
    }

    /** XSTATE_BV of the XSAVE header (byte 512): the state components the task had in use. */
    private static long xfeatures(byte[] xstate) {
        return ByteBuffer.wrap(xstate).order(ByteOrder.LITTLE_ENDIAN).getLong(512);
    }

    /** SIGKILL every process of the tree and consume each thread's exit as its tracer. The image is safe already. */
    private static void kill(FrozenTree tree, Consumer<String> log) {
        for (FrozenTree.Process p : tree.live()) {
            try {
                Proc.kill(p.pid, Proc.SIGKILL);
            } catch (SysException e) {
                log.accept("warning: " + e.getMessage());
            }
        }
        // Children first: the init of a container's pid namespace dies only once every other task of the
        // namespace is reaped (kernel/pid_namespace.c, zap_pid_ns_processes()), and cryo, their tracer, must
        // see them die before their parent can reap them.
        for (FrozenTree.Process p : tree.live().reversed()) {
            // The leader's exit is reported only once its other threads are reaped (kernel/exit.c,
            // delay_group_leader()): wait for those first.
            for (Tracee t : p.threads.reversed()) {
                try {
                    while (!Wait.waitFor(t.tid, Tracee.WAIT_MS).gone()) Ptrace.cont(t.tid, 0);
                } catch (SysException e) {
                    // ECHILD/ESRCH: already reaped
                }
            }
        }
    }

}
