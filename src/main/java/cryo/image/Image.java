package cryo.image;

import cryo.files.FdRecord;
import cryo.files.FileRecord;
import cryo.files.LockRecord;
import cryo.files.OpenFileRecord;
import cryo.files.PipeRecord;
import cryo.memory.MmRecord;
import cryo.memory.PagesRecord;
import cryo.memory.VmaRecord;
import cryo.task.TaskRecord;
import cryo.task.ThreadRecord;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A whole image, grouped per process and checked across records before anything is restored: the tree is
 * consistent, every record belongs to a process of the tree, every objref resolves, VMAs do not overlap
 * and every page lies inside one of its task's VMAs.
 */
public final class Image {
    public final Head head;
    public final Tree tree;
    public final Map<Integer, FileRecord> files = new HashMap<>();
    public final Map<Integer, OpenFileRecord> openFiles = new HashMap<>();
    public final Map<Integer, PipeRecord> pipes = new HashMap<>();
    /** Deleted and O_TMPFILE files by objref, and their data in file order. */
    public final Map<Integer, cryo.files.GhostRecord> ghosts = new LinkedHashMap<>();
    public final Map<Integer, List<cryo.files.GhostDataRecord>> ghostData = new HashMap<>();
    /** Memfds and their data (in offset order), unlinked FIFOs, by objref. */
    public final Map<Integer, cryo.files.MemfdRecord> memfds = new HashMap<>();
    public final Map<Integer, List<cryo.files.MemfdDataRecord>> memfdData = new HashMap<>();
    public final Map<Integer, cryo.files.UnlinkedFifoRecord> unlinkedFifos = new HashMap<>();
    /** Timerfds and signalfds by objref. */
    public final Map<Integer, cryo.files.TimerfdRecord> timerfds = new HashMap<>();
    public final Map<Integer, cryo.files.SignalfdRecord> signalfds = new HashMap<>();
    /** The watches of inotify instances, by instance. */
    public final cryo.files.InotifyWatches inotifyWatches = new cryo.files.InotifyWatches();
    /** SysV IPC objects by kind and id ("MSG:3"), and the pages of shm segments by id. */
    public final Map<String, cryo.ipc.IpcRecord> ipc = new LinkedHashMap<>();
    public final Map<Integer, List<cryo.ipc.ShmPagesRecord>> shmPages = new HashMap<>();
    /** The SysV IPC sysctls of the tree's own IPC namespace; null when it shared cryo's. */
    public cryo.ipc.IpcLimitsRecord ipcLimits;
    /** Shared anonymous objects by inode, and their pages by SHMEM id. */
    public final Map<Long, cryo.memory.ShmemRecord> shmem = new LinkedHashMap<>();
    public final Map<Integer, List<cryo.memory.ShmemPagesRecord>> shmemPages = new HashMap<>();
    private final Map<Integer, cryo.memory.ShmemRecord> shmemById = new HashMap<>();
    public final Map<Integer, ProcessImage> processes = new LinkedHashMap<>();
    /** The container's namespaces (its root is their init, pid 1); null for a plain tree. */
    public cryo.ns.NamespacesRecord namespaces;
    /** The network lock to lift once the sockets are back (cryo.netlock); null when the checkpoint took none. */
    public cryo.netlock.NetLockRecord netLock;
    /** The terminal outside the tree that was its controlling terminal (cryo.tty); null when it had none. */
    public cryo.tty.TerminalRecord terminal;
    /** The container's mounts, when the tree is one (cryo.mounts). */
    private final cryo.mounts.MountsImage mounts = new cryo.mounts.MountsImage();
    /** Eventfd counters and epoll interest lists (cryo.files.EventLoops). */
    public final cryo.files.EventLoops eventLoops = new cryo.files.EventLoops();

    /** Everything about one live process. */
    public static final class ProcessImage {
        public final Tree.Process entry;
        public TaskRecord task;
        public MmRecord mm;
        public final List<ThreadRecord> threads = new ArrayList<>();
        public final List<VmaRecord> vmas = new ArrayList<>();
        public final List<PagesRecord> pages = new ArrayList<>();
        /** Runs of pages shared copy-on-write with the parent, sorted. */
        public final List<cryo.memory.InheritedRecord> inherited = new ArrayList<>();
        public final List<FdRecord> fds = new ArrayList<>();
        /** The numbers of fds, and the OPEN_FILEs they hold (checks in constant time: an image may have 10^5 fds). */
        private final Set<Integer> fdNumbers = new HashSet<>(), fdOpenFiles = new HashSet<>();
        public final List<LockRecord> locks = new ArrayList<>();
        /** Its POSIX timers (timer_create), in id order. */
        public final List<cryo.timers.PosixTimerRecord> timers = new ArrayList<>();
        /** The directory to make, enter and remove again when the cwd had been deleted; null if not. */
        public cryo.task.DeletedCwdRecord deletedCwd;
        /** True when the root had been removed too, and was that same directory: the task is chrooted into it. */
        public boolean deletedRoot;
        /** How it was stopped by job control; null when it was running (cryo.task.JobStop). */
        public cryo.task.JobStopRecord jobStop;

        ProcessImage(Tree.Process entry) {
            this.entry = entry;
        }

        public long pageBytes() {
            long n = 0;
            for (PagesRecord p : pages) n += p.data().byteSize();
            return n;
        }
    }

    public cryo.mounts.MountsImage mounts() {
        return mounts;
    }

    /** The sockets of the tree (cryo.sockets). */
    private final cryo.sockets.SocketsImage sockets = new cryo.sockets.SocketsImage();

    public cryo.sockets.SocketsImage sockets() {
        return sockets;
    }

    /** The UDP sockets of the tree (cryo.inet). */
    private final cryo.inet.UdpImage udp = new cryo.inet.UdpImage();

    public cryo.inet.UdpImage udp() {
        return udp;
    }

    /** The pty pairs inside the tree and the sessions they are the terminal of (cryo.tty). */
    private final cryo.tty.PtyImage pty = new cryo.tty.PtyImage();

    public cryo.tty.PtyImage pty() {
        return pty;
    }

    /** The TCP sockets of the tree (cryo.inet). */
    private final cryo.inet.TcpImage tcp = new cryo.inet.TcpImage();

    public cryo.inet.TcpImage tcp() {
        return tcp;
    }

    private Image(Head head, Tree tree) {
        this.head = head;
        this.tree = tree;
    }

    /** "VMA #3", made into a string only for an error. */
    private record Name(RecordType type, int index) {
        @Override
        public String toString() {
            return type + " #" + index;
        }
    }

    public static Image of(List<ImageRecord> records) throws ImageException {
        cryo.precopy.PreCopyImage preCopy = cryo.precopy.PreCopyImage.take(records);   // pre-copy rounds come before HEAD
        records = preCopy.rest();
        if (records.size() < 2 || !(records.get(0) instanceof Head head)) throw new ImageException("image does not start with a HEAD record");
        cryo.netlock.NetLockRecord netLock = records.get(1) instanceof cryo.netlock.NetLockRecord l ? l : null;   // HEAD, NET_LOCK, TREE
        if (netLock != null) records = java.util.stream.Stream.concat(records.subList(0, 1).stream(), records.subList(2, records.size()).stream()).toList();
        if (records.size() < 2 || !(records.get(1) instanceof Tree tree)) throw new ImageException("image has no TREE record after HEAD");
        Image img = new Image(head, tree);
        img.netLock = netLock;
        img.checkTree();
        int[] n = new int[128];
        for (ImageRecord r : records.subList(2, records.size())) {
            Name name = new Name(r.type(), n[r.type().code]++);
            switch (r) {
                case Head h -> throw new ImageException("record " + name + ": a second HEAD");
                case Tree t -> throw new ImageException("record " + name + ": a second TREE");
                case Tail t -> throw new ImageException("record " + name + ": TAIL before the end");
                case cryo.netlock.NetLockRecord l -> throw new ImageException("record " + name + ": NET_LOCK anywhere but right after HEAD");
                case FileRecord f -> {
                    if (img.usedBy(f.objref())) throw new ImageException("record " + name + ": objref " + f.objref() + " is used twice");
                    img.files.put(f.objref(), f);
                }
                case cryo.ipc.IpcRecord i -> {
                    if (img.ipc.put(i.kind() + ":" + i.id(), i) != null) throw new ImageException("record " + name + ": " + i.name() + " appears twice");
                }
                case cryo.ipc.IpcLimitsRecord l -> {
                    if (img.ipcLimits != null) throw new ImageException("record " + name + ": a second IPC_LIMITS");
                    if ((head.flags() & cryo.checkpoint.Checkpoint.FLAG_OWN_IPC_NS) == 0) throw new ImageException("record " + name + ": IPC limits of a tree that had no IPC namespace of its own");
                    if (!img.ipc.isEmpty()) throw new ImageException("record " + name + ": after an IPC record (the limits come first)");
                    img.ipcLimits = l;
                }
                case cryo.ipc.ShmPagesRecord sp -> {
                    cryo.ipc.IpcRecord seg = img.ipc.get("SHM:" + sp.id());
                    if (seg == null) throw new ImageException("record " + name + ": shared memory segment " + sp.id() + " has no IPC record before it");
                    if (sp.offset() > ((seg.size() + 4095) & ~4095L) - sp.data().byteSize()) throw new ImageException("record " + name + ": pages at offset " + sp.offset() + " run past the end of segment " + sp.id());
                    img.shmPages.computeIfAbsent(sp.id(), k -> new ArrayList<>()).add(sp);
                }
                case cryo.memory.ShmemRecord s -> {
                    if (img.shmem.containsKey(s.inode())) throw new ImageException("record " + name + ": " + s.name() + " appears twice");
                    if (img.shmemById.putIfAbsent(s.id(), s) != null) throw new ImageException("record " + name + ": field 'id' " + s.id() + " is used twice");
                    img.shmem.put(s.inode(), s);
                }
                case cryo.memory.ShmemPagesRecord sp -> {
                    cryo.memory.ShmemRecord o = img.shmemById.get(sp.id());
                    if (o == null) throw new ImageException("record " + name + ": field 'id' names object " + sp.id() + ", which no SHMEM record before it has");
                    if (sp.offset() > o.size() - sp.data().byteSize()) throw new ImageException("record " + name + ": pages at offset " + sp.offset() + " run past the end of " + o.name() + " (" + o.size() + " bytes)");
                    img.shmemPages.computeIfAbsent(sp.id(), k -> new ArrayList<>()).add(sp);
                }
                case cryo.files.GhostRecord g -> {
                    if (img.usedBy(g.objref())) throw new ImageException("record " + name + ": objref " + g.objref() + " is used twice");
                    img.ghosts.put(g.objref(), g);
                }
                case cryo.files.GhostDataRecord gd -> cryo.files.GhostFiles.checkData(img.ghosts, img.ghostData, gd, name.toString());
                case cryo.files.MemfdRecord m -> {
                    if (img.usedBy(m.objref())) throw new ImageException("record " + name + ": objref " + m.objref() + " is used twice");
                    img.memfds.put(m.objref(), m);
                    img.memfdData.put(m.objref(), new ArrayList<>());
                }
                case cryo.files.MemfdDataRecord md -> img.memfdData(md, name);
                case cryo.files.UnlinkedFifoRecord uf -> {
                    if (img.usedBy(uf.objref())) throw new ImageException("record " + name + ": objref " + uf.objref() + " is used twice");
                    if (!img.pipes.containsKey(uf.pipe())) throw new ImageException("record " + name + ": field 'pipe' names objref " + uf.pipe() + ", which no PIPE record before it has");
                    img.unlinkedFifos.put(uf.objref(), uf);
                }
                case cryo.task.DeletedCwdRecord dc -> {
                    ProcessImage p = img.live(dc.pid(), name);
                    if (p.task == null) throw new ImageException("record " + name + ": pid " + dc.pid() + " has no TASK record before it");
                    if (p.deletedCwd != null) throw new ImageException("record " + name + ": a second DELETED_CWD for pid " + dc.pid());
                    if (!p.task.cwd().equals(dc.path() + " (deleted)")) throw new ImageException("record " + name + ": field 'path' " + dc.path() + " is not the deleted cwd of pid " + dc.pid() + " (" + p.task.cwd() + ")");
                    p.deletedCwd = dc;
                }
                case cryo.task.JobStopRecord js -> {
                    ProcessImage p = img.live(js.pid(), name);
                    if (p.task == null) throw new ImageException("record " + name + ": pid " + js.pid() + " has no TASK record before it");
                    if (p.jobStop != null) throw new ImageException("record " + name + ": a second JOB_STOP for pid " + js.pid());
                    p.jobStop = js;
                }
                case cryo.task.DeletedRootRecord dr -> {
                    ProcessImage p = img.live(dr.pid(), name);
                    if (p.deletedCwd == null) throw new ImageException("record " + name + ": pid " + dr.pid() + " has no DELETED_CWD record before it");
                    if (p.deletedRoot) throw new ImageException("record " + name + ": a second DELETED_ROOT for pid " + dr.pid());
                    p.deletedRoot = true;
                }
                case PipeRecord pi -> {
                    if (img.usedBy(pi.objref())) throw new ImageException("record " + name + ": objref " + pi.objref() + " is used twice");
                    img.pipes.put(pi.objref(), pi);
                }
                case OpenFileRecord o -> {
                    if (img.usedBy(o.objref())) throw new ImageException("record " + name + ": objref " + o.objref() + " is used twice");
                    img.openFiles.put(o.objref(), o);
                    if (o.kind() == OpenFileRecord.Kind.GHOST != img.ghosts.containsKey(o.file())) throw new ImageException("record " + name + ": field 'file' objref " + o.file() + " is " + (img.ghosts.containsKey(o.file()) ? "a GHOST record, not for a " + o.kind() + " description" : "no GHOST record before it"));
                    img.checkFileOf(o, name);
                    if (o.pipe() != 0 && !img.pipes.containsKey(o.pipe())) throw new ImageException("record " + name + ": field 'pipe' names objref " + o.pipe() + ", which no PIPE record before it has");
                    if (o.kind() == OpenFileRecord.Kind.PROC) img.checkProcFile(o, name);
                    if (o.kind() == OpenFileRecord.Kind.FIFO && !img.files.get(o.file()).fifo()) throw new ImageException("record " + name + ": FILE " + o.file() + " of a FIFO description is not a FIFO");
                }
                case TaskRecord t -> {
                    ProcessImage p = img.live(t.pid(), name);
                    if (p.task != null) throw new ImageException("record " + name + ": a second TASK for pid " + t.pid());
                    p.task = t;
                }
                case ThreadRecord t -> {
                    ProcessImage p = img.live(t.pid(), name);
                    if (p.entry.tids().length <= p.threads.size() || p.entry.tids()[p.threads.size()] != t.tid()) {
                        throw new ImageException("record " + name + ": thread " + t.tid() + " is not the next thread of pid " + t.pid() + " in the TREE");
                    }
                    if (t.xstate().length != img.head.xstateSize()) throw new ImageException("record " + name + ": field 'xstate' is " + t.xstate().length + " bytes, HEAD says " + img.head.xstateSize());
                    p.threads.add(t);
                }
                case MmRecord m -> {
                    ProcessImage p = img.live(m.pid(), name);
                    if (p.mm != null) throw new ImageException("record " + name + ": a second MM for pid " + m.pid());
                    if (!img.files.containsKey(m.exeFile()) && !img.ghosts.containsKey(m.exeFile())) throw new ImageException("record " + name + ": field 'exe_file' names objref " + m.exeFile() + ", which no FILE or GHOST record before it has");
                    p.mm = m;
                }
                case VmaRecord v -> {
                    ProcessImage p = img.live(v.pid(), name);
                    if (!p.vmas.isEmpty() && p.vmas.getLast().end() > v.start()) throw new ImageException("record " + name + ": field 'start' 0x" + Long.toHexString(v.start()) + " overlaps or precedes the VMA before it");
                    if (v.kind() == VmaRecord.Kind.MEMFD) {
                        cryo.files.MemfdRecord m = img.memfds.get(v.file());
                        if (m == null) throw new ImageException("record " + name + ": field 'file' names objref " + v.file() + ", which no MEMFD record before it has");
                    } else if (v.file() != 0 && !img.files.containsKey(v.file()) && !img.ghosts.containsKey(v.file())) throw new ImageException("record " + name + ": field 'file' names objref " + v.file() + ", which no FILE record before it has");
                    if (v.kind() == VmaRecord.Kind.SYSV && !img.ipc.containsKey("SHM:" + v.shmem())) throw new ImageException("record " + name + ": field 'shmem' names shared memory segment " + v.shmem() + ", which no IPC record before it has");
                    if (v.kind() == VmaRecord.Kind.SHMEM) {
                        cryo.memory.ShmemRecord o = img.shmem.get(v.shmem());
                        if (o == null) throw new ImageException("record " + name + ": field 'shmem' names shared anonymous memory object " + v.shmem() + ", which no SHMEM record before it has");
                        if (v.pgoff() > o.size() / 4096 || v.pgoff() * 4096 + v.size() > o.size()) throw new ImageException("record " + name + ": field 'pgoff' " + v.pgoff() + " maps past the end of " + o.name() + " (" + o.size() + " bytes)");
                    }
                    p.vmas.add(v);
                }
                case cryo.memory.InheritedRecord in -> {
                    ProcessImage p = img.live(in.pid(), name);
                    ProcessImage parent = img.processes.get(p.entry.ppid());
                    if (p.entry == img.tree.root() || parent == null || parent.entry.zombie()) throw new ImageException("record " + name + ": pid " + in.pid() + " has no live parent in the tree to share pages with");
                    long end = in.addr() + in.len();
                    VmaRecord v = SortedVmas.holding(p.vmas, in.addr(), end);
                    VmaRecord pv = v == null ? null : SortedVmas.holding(parent.vmas, v.start(), v.start() + 1);
                    if (pv != null && pv.start() != v.start()) pv = null;
                    if (pv == null || !v.inheritableFrom(pv)) throw new ImageException("record " + name + ": pages at 0x" + Long.toHexString(in.addr()) + " of pid " + in.pid() + " do not lie in a VMA it inherits from its parent " + parent.entry.pid());
                    if (!p.inherited.isEmpty() && p.inherited.getLast().addr() + p.inherited.getLast().len() > in.addr()) throw new ImageException("record " + name + ": field 'addr' 0x" + Long.toHexString(in.addr()) + " overlaps or precedes the run before it");
                    p.inherited.add(in);
                }
                case PagesRecord pg -> {
                    ProcessImage p = img.live(pg.pid(), name);
                    if (!SortedVmas.covered(p.vmas, pg.addr(), pg.addr() + pg.data().byteSize())) {
                        throw new ImageException("record " + name + ": pages at 0x" + Long.toHexString(pg.addr()) + " (" + pg.pages() + ") lie outside the VMAs of pid " + pg.pid());
                    }
                    p.pages.add(pg);
                }
                case FdRecord f -> {
                    ProcessImage p = img.live(f.pid(), name);
                    if (!img.openFiles.containsKey(f.openFile())) throw new ImageException("record " + name + ": field 'open_file' names objref " + f.openFile() + ", which no OPEN_FILE record before it has");
                    if (p.entry.sharesFdTable()) throw new ImageException("record " + name + ": pid " + f.pid() + " shares the fd table of " + p.entry.fdTable() + ", whose FD records it uses");
                    if (!p.fdNumbers.add(f.fd())) throw new ImageException("record " + name + ": fd " + f.fd() + " of pid " + f.pid() + " appears twice");
                    p.fds.add(f);
                    p.fdOpenFiles.add(f.openFile());
                }
                case LockRecord l -> img.lock(l, name);
                case cryo.ns.NamespacesRecord ns -> {
                    if (img.namespaces != null) throw new ImageException("record " + name + ": a second NAMESPACES");
                    if (tree.root().pid() != 1) throw new ImageException("record " + name + ": the container's init is pid " + tree.root().pid() + " in the TREE, not 1");
                    img.namespaces = ns;
                }
                case cryo.mounts.MountsRecord mr -> img.mounts.add(mr, name.toString());
                case cryo.files.EventLoopRecord e -> img.eventLoops.add(e, img.openFiles, name.toString());
                case cryo.files.TimerfdRecord t -> img.object(img.timerfds, t.objref(), t, name);
                case cryo.files.SignalfdRecord s -> img.object(img.signalfds, s.objref(), s, name);
                case cryo.timers.PosixTimerRecord t -> cryo.timers.PosixTimers.check(t, img.live(t.pid(), name).timers, img.processes.get(t.pid()).entry, name.toString());
                case cryo.files.InotifyWatchRecord iw -> img.inotifyWatches.add(iw, img.openFiles, img.files, name.toString());
                case cryo.sockets.SocketRecord s -> img.sockets.add(s, name.toString(), img.openFiles);
                case cryo.inet.UdpRecord u -> img.udp.add(u, name.toString(), img.openFiles);
                case cryo.inet.TcpRecord t -> img.tcp.add(t, name.toString(), img.openFiles);
                case cryo.tty.TerminalRecord t -> img.terminal = cryo.tty.OutsideTerminal.check(img.terminal, t, name.toString());
                case cryo.tty.TtyRecord t -> img.pty.add(t, name.toString(), img.openFiles, tree);
                case cryo.precopy.PreCopyValidRecord v -> preCopy.valid(v, img.live(v.pid(), name), name.toString());
                case cryo.precopy.PreCopyRoundRecord pr -> throw new ImageException("record " + name + ": a pre-copy round after HEAD");
                case cryo.precopy.PreCopyPagesRecord pp -> throw new ImageException("record " + name + ": pre-copied pages after HEAD");
            }
        }
        preCopy.resolve();                  // each process's pages: its PAGES and the valid pre-copied pieces, sorted
        cryo.files.GhostFiles.checkComplete(img.ghosts, img.ghostData);
        img.checkMemfdData();
        img.mounts.checkComplete();
        img.eventLoops.checkComplete(img);
        img.sockets.checkComplete(img.openFiles);
        img.udp.checkComplete(img.openFiles);
        img.tcp.checkComplete(img.openFiles);
        img.pty.checkComplete(img.openFiles);
        for (ProcessImage p : img.processes.values()) {
            if (p.entry.zombie()) continue;
            int pid = p.entry.pid();
            if (p.task == null) throw new ImageException("pid " + pid + " has no TASK record");
            if (p.mm == null) throw new ImageException("pid " + pid + " has no MM record");
            if (p.threads.size() != p.entry.tids().length) throw new ImageException("pid " + pid + " has " + p.threads.size() + " THREAD records, the TREE lists " + p.entry.tids().length + " threads");
        }
        return img;
    }

    private void checkTree() throws ImageException {
        Set<Integer> ids = new HashSet<>();
        Tree.Process root = tree.root();
        for (Tree.Process p : tree.processes()) {
            if (!ids.add(p.pid())) throw new ImageException("record TREE: id " + p.pid() + " is used twice (as a pid or thread id)");
            for (int i = 1; i < p.tids().length; i++) {
                if (!ids.add(p.tids()[i])) throw new ImageException("record TREE: thread id " + p.tids()[i] + " of pid " + p.pid() + " is used twice (as a pid or thread id)");
            }
            if (p != root) {
                if (p.ppid() == p.pid()) throw new ImageException("record TREE: pid " + p.pid() + " is its own parent");
                ProcessImage parent = processes.get(p.ppid());
                if (parent == null) throw new ImageException("record TREE: pid " + p.pid() + " has parent " + p.ppid() + ", which is not before it in the tree");
                if (parent.entry.zombie()) throw new ImageException("record TREE: pid " + p.pid() + " has parent " + p.ppid() + ", which is a zombie");
            }
            if (p.sharesFdTable()) checkFdTable(p);
            processes.put(p.pid(), new ProcessImage(p));
        }
        if (root.zombie()) throw new ImageException("record TREE: the root " + root.pid() + " is a zombie");
        // Restart recreates a session or group from its leader, or from a temporary one when the leader is
        // gone, or takes the root's from cryo.
        cryo.task.GroupLeaders.validate(tree);
        for (Tree.Process p : tree.processes()) {
            ProcessImage sl = processes.get(p.sid()), gl = processes.get(p.pgid());
            if (sl != null && sl.entry.sid() != p.sid()) throw new ImageException("record TREE: pid " + p.pid() + " is in session " + p.sid() + ", but that process does not lead it");
            if (gl != null && gl.entry.pgid() != p.pgid()) throw new ImageException("record TREE: pid " + p.pid() + " is in process group " + p.pgid() + ", but that process does not lead it");
        }
    }

    /** A lock is taken again through an fd of its task on a description of a file opened with the access it needs. */
    private void lock(LockRecord l, Name name) throws ImageException {
        ProcessImage p = live(l.pid(), name);
        OpenFileRecord o = openFiles.get(l.openFile());
        if (o == null) throw new ImageException("record " + name + ": field 'open_file' names objref " + l.openFile() + ", which no OPEN_FILE record before it has");
        if (!p.fdOpenFiles.contains(l.openFile())) throw new ImageException("record " + name + ": pid " + l.pid() + " has no fd of OPEN_FILE " + l.openFile());
        if (o.kind() != OpenFileRecord.Kind.PATH) throw new ImageException("record " + name + ": OPEN_FILE " + l.openFile() + " is a " + o.kind() + " description, not a file that can be locked");
        int access = o.flags() & cryo.sys.Fd.O_ACCMODE;
        if (l.kind() != LockRecord.Kind.FLOCK && (l.write() ? access == cryo.sys.Fd.O_RDONLY : access == cryo.sys.Fd.O_WRONLY)) {
            throw new ImageException("record " + name + ": a " + l.what() + " needs OPEN_FILE " + l.openFile() + " open for " + (l.write() ? "writing" : "reading"));
        }
        p.locks.add(l);
    }

    /**
     * A process sharing another's fd table is created by its parent with CLONE_FILES, so the parent must
     * hold that table, and the table's first user must come before it (cryo.files.FdTables).
     */
    private void checkFdTable(Tree.Process p) throws ImageException {
        String what = "record TREE: pid " + p.pid() + " shares the fd table of " + p.fdTable();
        if (p == tree.root()) throw new ImageException(what + ", but it is the root");
        if (p.zombie()) throw new ImageException(what + ", but it is a zombie");
        ProcessImage owner = processes.get(p.fdTable());
        if (owner == null) throw new ImageException(what + ", which is not a process before it in the tree");
        if (owner.entry.zombie()) throw new ImageException(what + ", which is a zombie");
        if (owner.entry.sharesFdTable()) throw new ImageException(what + ", which uses the table of " + owner.entry.fdTable());
        ProcessImage parent = processes.get(p.ppid());
        if (parent.entry.fdTable() != p.fdTable()) throw new ImageException(what + ", which its parent " + p.ppid() + " does not use");
    }

    /** A /proc file of a task names a task of the TREE: restart reopens it by the same path. */
    private void checkProcFile(OpenFileRecord o, Name name) throws ImageException {
        int task = cryo.files.ProcfsFile.task(o.description());
        if (task == 0) return;
        for (Tree.Process p : tree.processes()) {
            if (p.pid() == task) return;
            for (int tid : p.tids()) if (tid == task) return;
        }
        throw new ImageException("record " + name + ": field 'description' " + o.description() + " is a file of task " + task + ", which is not in the TREE");
    }

    private boolean usedBy(int objref) {
        return files.containsKey(objref) || openFiles.containsKey(objref) || pipes.containsKey(objref) || ghosts.containsKey(objref)
                || memfds.containsKey(objref) || unlinkedFifos.containsKey(objref)
                || timerfds.containsKey(objref) || signalfds.containsKey(objref);
    }

    /** The record an OPEN_FILE's field 'file' names, by its kind: a FILE, a MEMFD or an UNLINKED_FIFO. */
    private void checkFileOf(OpenFileRecord o, Name name) throws ImageException {
        if (o.file() == 0) return;
        String wanted = switch (o.kind()) {
            case MEMFD -> memfds.containsKey(o.file()) ? null : "MEMFD";
            case FIFO_UNLINKED -> unlinkedFifos.containsKey(o.file()) && unlinkedFifos.get(o.file()).pipe() == o.pipe() ? null : "UNLINKED_FIFO (with PIPE " + o.pipe() + ")";
            case GHOST -> null;           // checked against the GHOST records before
            case TIMERFD -> timerfds.containsKey(o.file()) ? null : "TIMERFD";
            case SIGNALFD -> signalfds.containsKey(o.file()) ? null : "SIGNALFD";
            default -> files.containsKey(o.file()) ? null : "FILE";
        };
        if (wanted != null) throw new ImageException("record " + name + ": field 'file' names objref " + o.file() + ", which no " + wanted + " record before it has");
    }

    /** Data of a memfd: inside its size, in offset order, not overlapping. */
    private void memfdData(cryo.files.MemfdDataRecord d, Name name) throws ImageException {
        cryo.files.MemfdRecord m = memfds.get(d.memfd());
        if (m == null) throw new ImageException("record " + name + ": field 'memfd' names objref " + d.memfd() + ", which no MEMFD record before it has");
        cryo.files.FileData.checkNext(memfdData.get(d.memfd()), d, m.size(), m.describe(), name.toString());
    }

    /** Every memfd has all the data its record counts. */
    private void checkMemfdData() throws ImageException {
        for (cryo.files.MemfdRecord m : memfds.values()) {
            long n = cryo.files.FileData.dataBytes(memfdData.get(m.objref()));
            if (n != m.dataBytes()) throw new ImageException("record MEMFD " + m.describe() + " (objref " + m.objref() + "): its MEMFD_DATA records hold " + n + " bytes, field 'data_bytes' says " + m.dataBytes());
        }
    }

    /** A record of an object that descriptions name by objref (a timerfd, a signalfd). */
    private <R extends ImageRecord> void object(Map<Integer, R> objects, int objref, R r, Name name) throws ImageException {
        if (usedBy(objref)) throw new ImageException("record " + name + ": objref " + objref + " is used twice");
        objects.put(objref, r);
    }

    private ProcessImage live(int pid, Name record) throws ImageException {
        ProcessImage p = processes.get(pid);
        if (p == null) throw new ImageException("record " + record + ": pid " + pid + " is not in the TREE");
        if (p.entry.zombie()) throw new ImageException("record " + record + ": pid " + pid + " is a zombie in the TREE");
        return p;
    }
}
