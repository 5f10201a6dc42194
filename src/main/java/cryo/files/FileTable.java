package cryo.files;

import cryo.image.Refusal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The objref table of a checkpoint (the kernel series' objhash): each file on disk and each open file
 * description is recorded once, the first time it is met, and named by its objref afterwards.
 */
public final class FileTable {
    private final Map<String, FileRecord> byInode = new HashMap<>();
    private final List<FileRecord> files = new ArrayList<>();
    /** Open file descriptions met so far, by the dev:ino of what they open. */
    private final Map<String, List<Holder>> descriptions = new HashMap<>();
    private int next = 1;
    private final Ghosts ghosts = new Ghosts(this);
    /** Every task of the tree, thread or process, to its process (tgid). */
    private final Map<Integer, Integer> tasks;
    /** The position of each process in the tree: the order restart restores them in. */
    private final Map<Integer, Integer> order = new HashMap<>();

    /** tasks: every thread and process id of the tree to its process, processes in tree order. */
    /** Memfds and unlinked FIFOs met so far. */
    private final UnnamedFiles unnamed = new UnnamedFiles(this);

    public UnnamedFiles unnamed() {
        return unnamed;
    }

    /** The objects descriptions name by 'file' that have no file of their own (a timerfd, a signalfd), in the order met. */
    private final List<cryo.image.ImageRecord> objects = new ArrayList<>();

    void object(cryo.image.ImageRecord r) {
        objects.add(r);
    }

    /** Written before the OPEN_FILE records that name them. */
    public List<cryo.image.ImageRecord> objects() {
        return objects;
    }

    /** The watches of the tree's inotify instances (InotifyFile), written after the OPEN_FILE records. */
    private final List<InotifyWatchRecord> inotifyWatches = new ArrayList<>();

    public List<InotifyWatchRecord> inotifyWatches() {
        return inotifyWatches;
    }

    /** What the image holds less of than the tree had (inotify events queued unread), said once it is written. */
    private final List<String> warnings = new ArrayList<>();

    public void warn(String what) {
        warnings.add(what);
    }

    public List<String> warnings() {
        return warnings;
    }

    public FileTable(Map<Integer, Integer> tasks) {
        this.tasks = Map.copyOf(tasks);
        for (int pid : tasks.values()) order.putIfAbsent(pid, order.size());
    }

    /** State one kind of file keeps for one checkpoint (cryo.sockets), made on first use. */
    private final Map<Class<?>, Object> kindState = new HashMap<>();

    public <T> T kindState(Class<T> kind, java.util.function.Supplier<T> make) {
        return kind.cast(kindState.computeIfAbsent(kind, k -> make.get()));
    }

    /** Each live process to the first process of the tree using its fd table (FdTables.checkpoint). */
    private Map<Integer, Integer> fdTables = Map.of();

    public void shareFdTables(Map<Integer, Integer> firstUsers) {
        this.fdTables = Map.copyOf(firstUsers);
    }

    /** The first process of the tree that uses pid's fd table: pid itself unless it shares an earlier one's. */
    public int fdTableOf(int pid) {
        return fdTables.getOrDefault(pid, pid);
    }

    /** The process of a task of the tree; null for a task outside it. */
    public Integer processOf(int tid) {
        return tasks.get(tid);
    }

    /** True when process comes after holder in the tree (restart restores it later). */
    public boolean restoredAfter(int process, int holder) {
        return order.get(process) > order.get(holder);
    }

    /** An fd of a task of the tree that holds the description objref. */
    public record Holder(int pid, int fd, int objref) {
    }

    public int nextObjref() {
        return next++;
    }

    public List<FileRecord> files() {
        return files;
    }

    public FileRecord file(int objref) {
        return files.stream().filter(f -> f.objref() == objref).findFirst().orElseThrow();
    }

    /**
     * The FILE record of what link (a /proc magic link: map_files, exe, fd) points to, known by path.
     */
    public FileRecord ref(int pid, Path link, String path) throws Refusal, IOException {
        // fds and mappings of a memfd are taken before this (MemfdFile, AddressSpace): what is left is the executable
        if (UnnamedFiles.isMemfd(path)) throw new Refusal(pid, "runs " + path.substring(1, path.length() - " (deleted)".length()) + ", a memfd, as its executable: not supported");
        if (path.endsWith(" (deleted)")) throw new Refusal(pid, path + " is a deleted file: not supported");
        Stat st;
        try {
            st = Stat.of(link);
        } catch (NoSuchFileException e) {
            throw new Refusal(pid, path + " vanished during checkpoint");
        }
        String key = st.dev + ":" + st.ino;
        FileRecord f = byInode.get(key);
        if (f == null) {
            f = new FileRecord(nextObjref(), path, st.dev, st.ino, st.mode, st.size, st.mtimeNanos, st.ctimeNanos, onHost(pid, path, st));
            byInode.put(key, f);
            files.add(f);
        }
        return f;
    }

    /**
     * A task in a mount namespace of its own sees paths from its own root, but a file it got from outside (its
     * stdio, cryo run -d's /dev/null) may lie outside that root: then /proc gives cryo's path for it
     * (d_path() from the reader's root). True when path names the file on cryo's side and not in the task's root.
     */
    private static boolean onHost(int pid, String path, Stat st) throws IOException {
        if (!cryo.ns.Namespace.MNT.differsFromCryo(pid)) return false;
        Stat inside = statOrNull(Path.of(cryo.ns.Root.of(pid).path(path))), outside = statOrNull(Path.of(path));
        return !same(inside, st) && same(outside, st);
    }

    private static Stat statOrNull(Path p) {
        try {
            return Stat.of(p);
        } catch (IOException e) {
            return null;
        }
    }

    private static boolean same(Stat a, Stat b) {
        return a != null && a.dev == b.dev && a.ino == b.ino;
    }

    /** The deleted files of the tree met so far. */
    public Ghosts ghosts() {
        return ghosts;
    }

    /**
     * The objref of what a mapping's link (/proc/PID/map_files/RANGE) leads to: a FILE record, or a GHOST
     * record for a deleted file; `what` names the mapping in refusals.
     */
    public int mappedFile(int pid, Path link, String path, String what) throws Refusal, IOException {
        if (!Ghosts.deleted(path)) return ref(pid, link, path).objref();
        String other = Ghosts.otherName(pid, link, path, what);
        return other != null ? ref(pid, link, other).objref() : ghosts.ref(pid, link, path, what).objref();
    }

    /**
     * The objref of the description fd of pid refers to, when an fd met before holds the same one
     * (kcmp(2) KCMP_FILE: dup'ed fds and fds inherited across fork); null for a new description.
     */
    public Integer sharedDescription(int pid, int fd, Stat st) throws IOException {
        for (Holder h : descriptions.getOrDefault(st.dev + ":" + st.ino, List.of())) {
            try {
                if (cryo.sys.Proc.sameFile(h.pid, h.fd, pid, fd)) return h.objref;
            } catch (cryo.sys.SysException e) {
                throw new IOException(e.getMessage());
            }
        }
        return null;
    }

    public void addHolder(Stat st, Holder h) {
        descriptions.computeIfAbsent(st.dev + ":" + st.ino, k -> new ArrayList<>()).add(h);
    }

    /** The fds met so far whose file has inode number ino (on any device: fdinfo gives the number only). */
    List<Holder> holdersOfInode(long ino) {
        List<Holder> out = new ArrayList<>();
        descriptions.forEach((key, holders) -> {
            if (key.endsWith(":" + ino)) out.addAll(holders);
        });
        return out;
    }

    /** Every fd met so far. */
    List<Holder> holders() {
        List<Holder> out = new ArrayList<>();
        descriptions.values().forEach(out::addAll);
        return out;
    }

    /** The processes of the tree (tgid). */
    public java.util.Set<Integer> processes() {
        return java.util.Collections.unmodifiableSet(order.keySet());
    }

    /** Eventfd counters and epolls met so far (their interest lists are resolved once every fd is known). */
    private final EventLoopDump eventLoops = new EventLoopDump(this);

    public EventLoopDump eventLoops() {
        return eventLoops;
    }

    /**
     * The fds of processes outside the tree that point at one of `links` (readlink text of the tree's fds:
     * a path, or "pipe:[inode]"), by link. One walk of /proc serves both pipe classification and leak
     * detection.
     */
    public static Map<String, List<Holder>> outsideHolders(java.util.Set<Integer> tree, java.util.Set<String> links) throws IOException {
        Map<String, List<Holder>> out = new HashMap<>();
        int self = cryo.sys.Proc.getpid();
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path pd : (Iterable<Path>) procs::iterator) {
                String name = pd.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit)) continue;
                int pid = Integer.parseInt(name);
                if (tree.contains(pid) || pid == self) continue;
                List<Path> fds;
                try (var s = Files.list(pd.resolve("fd"))) {
                    fds = s.toList();
                } catch (IOException e) {
                    continue;                       // gone, or a kernel thread
                }
                for (Path fdPath : fds) {
                    String link;
                    try {
                        link = Files.readSymbolicLink(fdPath).toString();
                    } catch (IOException e) {
                        continue;
                    }
                    if (links.contains(link)) {
                        out.computeIfAbsent(link, k -> new ArrayList<>()).add(new Holder(pid, Integer.parseInt(fdPath.getFileName().toString()), 0));
                    }
                }
            }
        }
        return out;
    }

    /**
     * Descriptions named in `check` that a process outside the tree holds too (the kernel series' leak
     * detection, by kcmp): restoring them would split one description in two. One message per leak.
     */
    public List<String> leaks(Map<String, List<Holder>> outside, Map<Integer, String> linkOf, java.util.Set<Integer> check) {
        List<String> out = new ArrayList<>();
        for (List<Holder> holders : descriptions.values()) {
            for (Holder h : holders) {
                if (!check.contains(h.objref)) continue;
                for (Holder o : outside.getOrDefault(linkOf.get(h.objref), List.of())) {
                    try {
                        if (cryo.sys.Proc.sameFile(h.pid, h.fd, o.pid, o.fd)) {
                            out.add("task " + h.pid + ": fd " + h.fd + " shares its open file with fd " + o.fd + " of task " + o.pid
                                    + ", which is outside the tree (--allow-leaks accepts this: the restored tree gets a description of its own)");
                            check.remove(h.objref);
                            break;
                        }
                    } catch (cryo.sys.SysException e) {
                        // the outside process went away
                    }
                }
            }
        }
        return out;
    }

    /** Pipes and FIFO buffers met so far, by inode. */
    private final Map<Long, PipeRecord> pipes = new java.util.LinkedHashMap<>();

    public java.util.Collection<PipeRecord> pipes() {
        return pipes.values();
    }

    /**
     * The PIPE record of the pipe or FIFO behind fd of pid, saved the first time either end is met. Its
     * buffer is read without consuming it: a new reader opened through /proc/PID/fd/N tee(2)s the contents
     * into a private pipe of the same capacity (the user-space twin of the kernel's link_pipe()).
     */
    public PipeRecord pipe(int pid, int fd, long inode) throws IOException, cryo.image.Refusal {
        PipeRecord known = pipes.get(inode);
        if (known != null) return known;
        String what = "pipe of task " + pid + " fd " + fd;
        int reader = -1, priv[] = null;
        try {
            reader = cryo.sys.Fd.open("/proc/" + pid + "/fd/" + fd, cryo.sys.Fd.O_RDONLY | cryo.sys.Fd.O_NONBLOCK);
            int capacity = cryo.sys.Fd.fcntl(reader, cryo.sys.Fd.F_GETPIPE_SZ, 0);
            priv = cryo.sys.Fd.pipe();
            cryo.sys.Fd.fcntl(priv[1], cryo.sys.Fd.F_SETPIPE_SZ, capacity);
            long n = cryo.sys.Fd.tee(reader, priv[1], capacity);
            byte[] data;
            try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
                java.lang.foreign.MemorySegment buf = a.allocate(Math.max(1, n));
                if (n > 0) cryo.sys.Fd.readFully(priv[0], buf.asSlice(0, n), what);
                data = buf.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            }
            PipeRecord p = new PipeRecord(nextObjref(), inode, capacity, data);
            pipes.put(inode, p);
            return p;
        } catch (cryo.sys.SysException e) {
            throw new cryo.image.Refusal(pid, "fd " + fd + ": cannot read the pipe's buffer: " + e.getMessage());
        } finally {
            if (reader >= 0) cryo.sys.Fd.close(reader);
            if (priv != null) {
                cryo.sys.Fd.close(priv[0]);
                cryo.sys.Fd.close(priv[1]);
            }
        }
    }

    /** stat(2) of a path, following links. */
    public record Stat(long dev, long ino, int mode, long size, long mtimeNanos, long ctimeNanos) {
        public static Stat of(Path p) throws IOException {
            Map<String, Object> a = Files.readAttributes(p, "unix:dev,ino,mode,size,lastModifiedTime,ctime");
            FileTime mtime = (FileTime) a.get("lastModifiedTime"), ctime = (FileTime) a.get("ctime");
            return new Stat((Long) a.get("dev"), (Long) a.get("ino"), (Integer) a.get("mode"), (Long) a.get("size"),
                    mtime.to(TimeUnit.NANOSECONDS), ctime.to(TimeUnit.NANOSECONDS));
        }
    }
}
