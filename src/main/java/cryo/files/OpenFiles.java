package cryo.files;

import cryo.sys.ProcFile;
import cryo.image.ImageException;
import cryo.image.Refusal;
import cryo.remote.Tracee;
import cryo.sys.Errno;
import cryo.sys.Fd;
import cryo.sys.Nr;
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
 * between fds with kcmp(KCMP_FILE) and has each new description recorded once by its kind (FileKinds);
 * restart has each description created once in cryo by its kind and passes it to its fds through the
 * FdBroker.
 */
public final class OpenFiles {
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
                    d = FileKinds.checkpoint(new FdContext(pid, fd, e.getValue(), st, flags & ~Fd.O_CLOEXEC, info[0], table,
                            outside.getOrDefault(e.getValue(), List.of()), external));
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
    public static void verify(FileRecord f, boolean mapped, boolean locked, Consumer<String> warn) throws ImageException {
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
        if (f.directory()) return;
        String change = change(f, st, locked);
        if (change == null) return;
        if (locked) {
            // The locks were dropped when the tree was killed: someone may have written what they protected.
            throw new ImageException("file " + f.path() + " changed since the checkpoint (" + change + ") while the tree's file"
                    + " locks were down: another process may have written what they protected");
        }
        if (mapped) throw new ImageException("mapped file " + f.path() + " changed since the checkpoint (" + change + ")");
        if (st.size() != f.size()) warn.accept("file " + f.path() + " changed size since the checkpoint: " + st.size() + " bytes, was " + f.size());
    }

    /** What differs between the file as recorded and as it is ("size 10 -> 12, mtime"), or null. */
    private static String change(FileRecord f, FileTable.Stat st, boolean withCtime) {
        List<String> what = new ArrayList<>();
        if (st.size() != f.size()) what.add("size " + f.size() + " -> " + st.size() + " bytes");
        if (st.mtimeNanos() != f.mtimeNanos()) what.add("modification time");
        if (withCtime && st.ctimeNanos() != f.ctimeNanos()) what.add("status change time");
        return what.isEmpty() ? null : String.join(", ", what);
    }

    /**
     * Installs every fd of one task, each description created once in cryo by opener; a /proc file of one
     * of its threads, which do not exist yet, waits for restoreThreadFiles.
     */
    public static void restore(Tracee t, FdBroker broker, List<FdRecord> fds, Opener opener) throws SysException {
        for (FdRecord fd : fds) {
            OpenFileRecord d = opener.descs.get(fd.openFile());
            if (d.kind() == OpenFileRecord.Kind.PROC && ProcfsFile.waitsForTask(d, opener.root())) {
                opener.waiting.computeIfAbsent(fd.pid(), k -> new ArrayList<>()).add(fd);
            } else {
                broker.install(t, opener.localFd(fd.openFile()), fd.fd(), fd.cloexec());
            }
        }
    }

    /** Installs the fds restore() left for the threads of t's process, now that they exist. */
    public static void restoreThreadFiles(Tracee t, FdBroker broker, Opener opener) throws SysException {
        for (FdRecord fd : opener.waiting.getOrDefault(t.nsTid, List.of())) broker.install(t, opener.localFd(fd.openFile()), fd.fd(), fd.cloexec());
        opener.waiting.remove(t.nsTid);
    }

    /**
     * Creates every open file description of a restart once, in cryo, for all tasks that hold it: each by
     * the restore half of its kind (FileKinds), kept open by cryo until every fd is installed.
     */
    public static final class Opener implements AutoCloseable {
        private final Map<Integer, OpenFileRecord> descs;
        final cryo.image.Image image;
        private final Map<OpenFileRecord.Kind, FileKind.Restorer> restorers;
        private final Map<Integer, Integer> opened = new HashMap<>();
        /** Fds of /proc files of threads that did not exist yet when their table was filled, by process. */
        private final Map<Integer, List<FdRecord>> waiting = new HashMap<>();

        /** inheritFds: cryo's fd for each inherited description, by its text ("pipe:[123]"), from --inherit-fd. */
        /** files: the image's files and the ghost files recreated for this restart (GhostFiles.files). */
        public Opener(cryo.image.Image image, Map<Integer, FileRecord> files, Map<String, Integer> inheritFds) {
            this.descs = image.openFiles;
            this.image = image;
            this.restorers = FileKinds.restorers(new RestoreContext(files, image.pipes, image.memfds, image.memfdData,
                    image.unlinkedFifos, inheritFds, this, image.eventLoops, image.timerfds, image.signalfds,
                    image.inotifyWatches, f -> !f.host() && image.mounts().restoredByCryo(f.path())));
        }

        /** Where the image's paths are: cryo's root, or a container's once its init exists (Restart). */
        private cryo.ns.Root root = cryo.ns.Root.CRYO;

        public cryo.ns.Root root() {
            return root;
        }

        /** From now on the image's paths are opened under root (a container's init, its mounts made). */
        public void root(cryo.ns.Root root) {
            this.root = root;
        }

        /** cryo's fd (O_RDWR) on the memfd of MEMFD objref, for mappings of it: the one object its fds open too. */
        public int memfd(int objref) throws SysException {
            return ((MemfdFile.Objects) restorers.get(OpenFileRecord.Kind.MEMFD)).object(objref);
        }

        /** The restore half of a kind of description, for kinds that give more than descriptions (cryo.tty). */
        public FileKind.Restorer restorer(OpenFileRecord.Kind kind) {
            return restorers.get(kind);
        }

        /** The OPEN_FILE record of objref. */
        OpenFileRecord description(int objref) {
            return descs.get(objref);
        }

        int localFd(int objref) throws SysException {
            Integer fd = opened.get(objref);
            if (fd != null) return fd;
            OpenFileRecord d = descs.get(objref);
            fd = restorers.get(d.kind()).open(d);
            opened.put(objref, fd);
            return fd;
        }

        /** Once every task is restored and every fd in place: each kind's last step, then cryo's fds closed. */
        public void finish() throws SysException {
            for (List<FdRecord> left : waiting.values()) {
                FdRecord fd = left.getFirst();
                throw new SysException("fd " + fd.fd() + " of task " + fd.pid() + ": " + descs.get(fd.openFile()).description()
                        + " belongs to a task that restart did not create before it", Errno.ESRCH);
            }
            for (FileKind.Restorer r : new java.util.LinkedHashSet<>(restorers.values())) r.finish();
            close();
        }

        /** Closes every fd cryo opened (idempotent). */
        @Override
        public void close() {
            for (FileKind.Restorer r : new java.util.LinkedHashSet<>(restorers.values())) r.close();
            opened.clear();
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
