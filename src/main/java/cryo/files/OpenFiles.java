package cryo.files;

import cryo.sys.ProcFile;
import cryo.image.ImageException;
import cryo.image.Refusal;
import cryo.remote.Tracee;
import cryo.sys.Errno;
import cryo.sys.Fd;
import cryo.sys.Nr;
import cryo.sys.Proc;
import cryo.sys.SysException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.HashSet;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * A task's fd table: both halves. Checkpoint reads /proc/PID/fd and fdinfo, finds descriptions shared
 * between fds with kcmp(KCMP_FILE) and names each description once; restart reopens each description once
 * in cryo (open + lseek, with its status flags) and passes it to its fds through the FdBroker.
 */
public final class OpenFiles {
    private static final int OPEN_FLAGS_KEPT = ~(Fd.O_CREAT | Fd.O_EXCL | Fd.O_TRUNC | Fd.O_CLOEXEC);

    /** The fd table of one task as records. */
    public record Table(List<OpenFileRecord> descriptions, List<FdRecord> fds) {
    }

    private OpenFiles() {
    }

    // ---------------------------------------------------------------- checkpoint

    /** The readlink text of every fd of pid, by fd. */
    public static Map<Integer, String> links(int pid) throws IOException {
        Map<Integer, String> links = new TreeMap<>();
        Path dir = Path.of("/proc/" + pid + "/fd");
        try (var s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                links.put(Integer.parseInt(p.getFileName().toString()), Files.readSymbolicLink(p).toString());
            }
        }
        return links;
    }

    /**
     * The fd table of a frozen task, whose fds (from links()) point at links. outside maps link texts to fds of processes outside the tree: a pipe
     * (or FIFO at fds 0-2) held outside is the task's connection to the world and is inherited at restart;
     * any other pipe is the tree's own and is saved with its buffer. A table shared with a process before
     * it in the tree (FdTables) is saved there: this one gets no records.
     */
    public static Table checkpoint(int pid, Map<Integer, String> links, FileTable table, Map<String, List<FileTable.Holder>> outside,
                                   Set<String> external) throws Refusal, IOException {
        if (table.fdTableOf(pid) != pid) return new Table(List.of(), List.of());   // saved with its first user
        Path dir = Path.of("/proc/" + pid + "/fd");
        List<OpenFileRecord> descs = new ArrayList<>();
        List<FdRecord> fds = new ArrayList<>();
        Refusal.Collector refused = new Refusal.Collector();   // every fd cryo cannot take, not only the first
        for (var e : links.entrySet()) {
            int fd = e.getKey();
            Path proc = dir.resolve(Integer.toString(fd));
            long[] info = fdinfo(pid, fd);
            int flags = (int) info[1];
            boolean cloexec = (flags & Fd.O_CLOEXEC) != 0;
            FileTable.Stat st = FileTable.Stat.of(proc);
            Integer shared = table.sharedDescription(pid, fd, st);
            if (shared == null) {
                OpenFileRecord d;
                try {
                    d = describe(pid, fd, e.getValue(), st, flags & ~Fd.O_CLOEXEC, info[0], table, outside, external);
                } catch (Refusal r) {
                    refused.add(r);
                    continue;
                }
                descs.add(d);
                shared = d.objref();
            }
            table.addHolder(st, new FileTable.Holder(pid, fd, shared));
            fds.add(new FdRecord(pid, fd, shared, cloexec));
        }
        refused.throwIfAny();
        return new Table(descs, fds);
    }

    /** An fd without a path, in words: "an epoll instance (anon_inode:[eventpoll])". */
    private static String anonKind(String link) {
        String what = switch (link) {
            case "anon_inode:[eventpoll]" -> "an epoll instance";
            case "anon_inode:[eventfd]" -> "an eventfd";
            case "anon_inode:[timerfd]" -> "a timerfd";
            case "anon_inode:[signalfd]" -> "a signalfd";
            case "anon_inode:inotify" -> "an inotify instance";
            case "anon_inode:[fanotify]" -> "a fanotify instance";
            case "anon_inode:[pidfd]" -> "a pidfd";
            case "anon_inode:[io_uring]" -> "an io_uring instance";
            case "anon_inode:[userfaultfd]" -> "a userfaultfd";
            default -> null;
        };
        return what == null ? link : what + " (" + link + ")";
    }

    private static OpenFileRecord describe(int pid, int fd, String link, FileTable.Stat st, int flags, long pos,
                                           FileTable table, Map<String, List<FileTable.Holder>> outside, Set<String> external)
            throws Refusal, IOException {
        Path proc = Path.of("/proc/" + pid + "/fd/" + fd);
        boolean fifo = (st.mode() & FileRecord.S_IFMT) == FileRecord.S_IFIFO;
        boolean pipe = link.startsWith("pipe:");
        List<FileTable.Holder> out = outside.getOrDefault(link, List.of());
        boolean leadsOut = link.startsWith("socket:") || isTty(link) || ((pipe || fifo) && !out.isEmpty());
        if (external.contains(link)) {
            // The user vouches for it: connected at restart to the fd named by --inherit-fd FD:link.
            return new OpenFileRecord(table.nextObjref(), OpenFileRecord.Kind.INHERITED, 0, 0, flags, 0,
                    fd <= 2 ? fd : OpenFileRecord.EXTERNAL, link);
        }
        if (link.startsWith("socket:") && fd > 2) {
            long inode = Long.parseLong(link, "socket:[".length(), link.length() - 1, 10);
            throw new Refusal(pid, "fd " + fd + " is " + SocketKind.describe(pid, inode) + " (" + link + "): sockets are not supported yet");
        }
        if (leadsOut) {
            if (fd > 2) {
                String holder = out.isEmpty() ? "" : ", whose other end task " + out.getFirst().pid() + " (fd " + out.getFirst().fd() + ") holds outside the tree";
                throw new Refusal(pid, "fd " + fd + " is " + link + holder + ": only fds 0-2 may be connected outside the tree (--external " + link + " accepts it, to be given back with restart --inherit-fd FD:" + link + ")");
            }
            return new OpenFileRecord(table.nextObjref(), OpenFileRecord.Kind.INHERITED, 0, 0, flags, 0, fd, link);
        }
        if (pipe) {
            PipeRecord p = table.pipe(pid, fd, st.ino());
            OpenFileRecord.Kind end = (flags & Fd.O_ACCMODE) == Fd.O_RDONLY ? OpenFileRecord.Kind.PIPE_READ : OpenFileRecord.Kind.PIPE_WRITE;
            return new OpenFileRecord(table.nextObjref(), end, 0, p.objref(), flags, 0, 0, link);
        }
        if (!link.startsWith("/")) throw new Refusal(pid, "fd " + fd + " is " + anonKind(link) + ": not supported yet");
        if (ProcFiles.isProcFile(link, st)) return ProcFiles.describe(pid, fd, link, flags, pos, table);
        FileRecord f = table.ref(pid, proc, link);
        if (fifo) {
            PipeRecord p = table.pipe(pid, fd, st.ino());
            return new OpenFileRecord(table.nextObjref(), OpenFileRecord.Kind.FIFO, f.objref(), p.objref(), flags, 0, 0, link);
        }
        if (!f.regular() && !f.directory() && !f.charDevice()) {
            throw new Refusal(pid, "fd " + fd + " is " + link + " (mode 0" + Integer.toOctalString(f.mode()) + "): not supported yet");
        }
        return new OpenFileRecord(table.nextObjref(), OpenFileRecord.Kind.PATH, f.objref(), 0, flags, f.charDevice() ? 0 : pos, 0, link);
    }

    private static boolean isTty(String link) {
        return link.startsWith("/dev/pts/") || link.startsWith("/dev/tty") || link.equals("/dev/console") || link.equals("/dev/ptmx");
    }

    /** {pos, flags} from /proc/PID/fdinfo/FD. */
    private static long[] fdinfo(int pid, int fd) throws IOException {
        long pos = 0, flags = 0;
        for (String line : ProcFile.read("/proc/" + pid + "/fdinfo/" + fd).split("\n")) {
            if (line.startsWith("pos:")) pos = Long.parseLong(line.substring(4).trim());
            else if (line.startsWith("flags:")) flags = Long.parseLong(line.substring(6).trim(), 8);
        }
        return new long[]{pos, flags};
    }

    // ---------------------------------------------------------------- restore

    /**
     * Checks that a file the image refers to is still the same: gone or replaced is an error; for a mapped
     * file (or the executable) so is a change of size or mtime; for a file only held open, a size change is
     * a warning.
     */
    public static void verify(FileRecord f, boolean mapped, Consumer<String> warn) throws ImageException {
        FileTable.Stat st;
        try {
            st = FileTable.Stat.of(Path.of(f.path()));
        } catch (NoSuchFileException e) {
            throw new ImageException("file " + f.path() + " is gone");
        } catch (IOException e) {
            throw new ImageException("file " + f.path() + ": " + e.getMessage());
        }
        if ((st.mode() & FileRecord.S_IFMT) != (f.mode() & FileRecord.S_IFMT)) {
            throw new ImageException("file " + f.path() + " is no longer the same kind of file");
        }
        if (f.charDevice()) return;
        if (st.ino() != f.ino() || st.dev() != f.dev()) {
            throw new ImageException("file " + f.path() + " was replaced: inode " + st.ino() + ", was " + f.ino());
        }
        if (mapped && (st.size() != f.size() || st.mtimeNanos() != f.mtimeNanos())) {
            throw new ImageException("mapped file " + f.path() + " changed since the checkpoint: size "
                    + st.size() + " (was " + f.size() + "), mtime changed: " + (st.mtimeNanos() != f.mtimeNanos()));
        }
        if (!mapped && !f.directory() && st.size() != f.size()) {
            warn.accept("file " + f.path() + " changed size since the checkpoint: " + st.size() + " bytes, was " + f.size());
        }
    }

    /**
     * Installs every fd of one task, each description created once in cryo by opener; a /proc file of one
     * of its threads, which do not exist yet, waits for restoreThreadFiles.
     */
    public static void restore(Tracee t, FdBroker broker, List<FdRecord> fds, Opener opener) throws SysException {
        for (FdRecord fd : fds) {
            OpenFileRecord d = opener.descs.get(fd.openFile());
            if (d.kind() == OpenFileRecord.Kind.PROC && ProcFiles.waitsForTask(d)) {
                opener.waiting.computeIfAbsent(fd.pid(), k -> new ArrayList<>()).add(fd);
            } else {
                broker.install(t, opener.localFd(fd.openFile()), fd.fd(), fd.cloexec());
            }
        }
    }

    /** Installs the fds restore() left for the threads of t's process, now that they exist. */
    public static void restoreThreadFiles(Tracee t, FdBroker broker, Opener opener) throws SysException {
        for (FdRecord fd : opener.waiting.getOrDefault(t.tid, List.of())) broker.install(t, opener.localFd(fd.openFile()), fd.fd(), fd.cloexec());
        opener.waiting.remove(t.tid);
    }

    /**
     * Creates every open file description of a restart once, in cryo, for all tasks that hold it: files
     * reopened with flags and offset; pipes created with their capacity and refilled with their buffer
     * (the kernel series' pipe_file_restore()); FIFOs reopened by path, kept open meanwhile by an O_RDWR fd
     * of cryo's so their refilled buffer survives. A pipe end no description asked for is closed at the
     * end, so the restored writer of a pipe whose reader was gone gets EPIPE again.
     */
    public static final class Opener implements AutoCloseable {
        private final Map<Integer, OpenFileRecord> descs;
        private final Map<Integer, FileRecord> files;
        private final Map<Integer, PipeRecord> pipes;
        private final Map<Integer, Integer> opened = new HashMap<>();
        private final Map<Integer, int[]> pipeEnds = new HashMap<>();
        private final Map<Integer, Integer> fifoHolders = new HashMap<>();
        private final Set<String> endsGiven = new java.util.HashSet<>();
        private final List<Integer> toClose = new ArrayList<>();
        /** /proc descriptions opened, by cryo's fd: finish() sets their offsets. */
        private final Map<Integer, OpenFileRecord> procFiles = new HashMap<>();
        /** Fds of /proc files of threads that did not exist yet when their table was filled, by process. */
        private final Map<Integer, List<FdRecord>> waiting = new HashMap<>();

        private final Map<String, Integer> inheritFds;

        /** inheritFds: cryo's fd for each inherited description, by its text ("pipe:[123]"), from --inherit-fd. */
        public Opener(Map<Integer, OpenFileRecord> descs, Map<Integer, FileRecord> files, Map<Integer, PipeRecord> pipes,
                      Map<String, Integer> inheritFds) {
            this.descs = descs;
            this.files = files;
            this.pipes = pipes;
            this.inheritFds = inheritFds;
        }

        /** The descriptions leading outside that no --inherit-fd maps and that have no fd 0-2 to fall back on. */
        public List<String> unmapped() {
            List<String> out = new ArrayList<>();
            for (OpenFileRecord d : descs.values()) {
                if (d.kind() == OpenFileRecord.Kind.INHERITED && d.inheritFd() == OpenFileRecord.EXTERNAL && !inheritFds.containsKey(d.description())) {
                    out.add(d.description());
                }
            }
            return out;
        }

        int localFd(int objref) throws SysException {
            Integer fd = opened.get(objref);
            if (fd != null) return fd;
            OpenFileRecord d = descs.get(objref);
            fd = switch (d.kind()) {
                case INHERITED -> inheritFds.getOrDefault(d.description(), d.inheritFd());
                case PATH -> own(reopen(d, files.get(d.file())));
                case PIPE_READ, PIPE_WRITE -> pipeEnd(d);
                case FIFO -> own(fifo(d));
                case PROC -> {
                    int f = own(ProcFiles.open(d, OPEN_FLAGS_KEPT));
                    procFiles.put(f, d);
                    yield f;
                }
            };
            opened.put(objref, fd);
            return fd;
        }

        private static int reopen(OpenFileRecord d, FileRecord f) throws SysException {
            int fd = Fd.open(f.path(), d.flags() & OPEN_FLAGS_KEPT | Fd.O_NOCTTY);
            try {
                if (d.pos() != 0) Fd.lseek(fd, d.pos(), f.path());
                return fd;
            } catch (SysException e) {
                Fd.close(fd);
                throw e;
            }
        }

        private int own(int fd) {
            toClose.add(fd);
            return fd;
        }

        /**
         * A description of a pipe: the first description of each end is that end of the pipe cryo creates;
         * any other (a second reader or writer, or one opened O_RDWR through /proc/PID/fd/N) is a new open
         * of the same pipe, as a FIFO open would give (fs/pipe.c fifo_open()). cryo keeps both ends open
         * until close(), so such an open always finds the other side.
         */
        private int pipeEnd(OpenFileRecord d) throws SysException {
            PipeRecord p = pipes.get(d.pipe());
            int[] ends = pipeEnds.get(p.objref());
            if (ends == null) {
                ends = Fd.pipe();
                pipeEnds.put(p.objref(), ends);
                fill(ends[1], p);
            }
            int access = d.flags() & Fd.O_ACCMODE;
            boolean read = d.kind() == OpenFileRecord.Kind.PIPE_READ;
            int fd;
            if (access != Fd.O_RDWR && endsGiven.add(p.objref() + (read ? "r" : "w"))) {
                fd = read ? ends[0] : ends[1];
            } else {
                fd = own(Fd.open("/proc/self/fd/" + ends[0], access | Fd.O_NONBLOCK));
            }
            Fd.fcntl(fd, Fd.F_SETFL, d.flags());
            return fd;
        }

        private int fifo(OpenFileRecord d) throws SysException {
            FileRecord f = files.get(d.file());
            PipeRecord p = pipes.get(d.pipe());
            if (!fifoHolders.containsKey(p.objref())) {
                int holder = Fd.open(f.path(), Fd.O_RDWR | Fd.O_NONBLOCK);
                fifoHolders.put(p.objref(), holder);
                fill(holder, p);
            }
            int fd = Fd.open(f.path(), (d.flags() & Fd.O_ACCMODE) | Fd.O_NONBLOCK);
            Fd.fcntl(fd, Fd.F_SETFL, d.flags());
            return fd;
        }

        private static void fill(int writeEnd, PipeRecord p) throws SysException {
            if (Fd.fcntl(writeEnd, Fd.F_GETPIPE_SZ, 0) != p.capacity()) Fd.fcntl(writeEnd, Fd.F_SETPIPE_SZ, p.capacity());
            if (p.data().length == 0) return;
            try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
                Fd.writeFully(writeEnd, a.allocateFrom(java.lang.foreign.ValueLayout.JAVA_BYTE, p.data()), "pipe " + p.objref());
            }
        }

        /**
         * Once every task is restored and every fd in place: puts the /proc files at their offsets, then
         * closes cryo's own fds.
         */
        public void finish() throws SysException {
            for (List<FdRecord> left : waiting.values()) {
                FdRecord fd = left.getFirst();
                throw new SysException("fd " + fd.fd() + " of task " + fd.pid() + ": " + descs.get(fd.openFile()).description()
                        + " belongs to a task that restart did not create before it", Errno.ESRCH);
            }
            for (var e : procFiles.entrySet()) ProcFiles.seek(e.getKey(), e.getValue());
            close();
        }

        /** Closes every fd cryo opened (idempotent). */
        @Override
        public void close() {
            for (int fd : toClose) Fd.close(fd);
            toClose.clear();
            for (int[] ends : pipeEnds.values()) {
                if (ends[0] >= 0) Fd.close(ends[0]);
                if (ends[1] >= 0) Fd.close(ends[1]);
                ends[0] = ends[1] = -1;
            }
            for (int fd : fifoHolders.values()) Fd.close(fd);
            fifoHolders.clear();
            opened.clear();
            procFiles.clear();
        }
    }

    /** Closes fds 0-2 the task inherited from the stub that the image does not have. */
    static void closeStdioStrays(Tracee t, List<FdRecord> fds) throws SysException {
        Set<Integer> keep = new java.util.HashSet<>();
        for (FdRecord f : fds) keep.add(f.fd());
        for (int fd = 0; fd <= 2; fd++) {
            if (!keep.contains(fd)) t.call(Nr.CLOSE, null, fd);   // EBADF when cryo had no such fd: fine
        }
    }

    static void closeBroker(Tracee t, int brokerFd) throws SysException {
        t.syscall("close(broker)", Nr.CLOSE, brokerFd);
    }
}
