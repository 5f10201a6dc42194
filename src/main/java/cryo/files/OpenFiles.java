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

    public static Table checkpoint(int pid, FileTable table) throws Refusal, IOException {
        Map<Integer, String> links = new TreeMap<>();
        Path dir = Path.of("/proc/" + pid + "/fd");
        try (var s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                links.put(Integer.parseInt(p.getFileName().toString()), Files.readSymbolicLink(p).toString());
            }
        }
        List<OpenFileRecord> descs = new ArrayList<>();
        List<FdRecord> fds = new ArrayList<>();
        for (var e : links.entrySet()) {
            int fd = e.getKey();
            Path proc = dir.resolve(Integer.toString(fd));
            long[] info = fdinfo(pid, fd);
            int flags = (int) info[1];
            boolean cloexec = (flags & Fd.O_CLOEXEC) != 0;
            FileTable.Stat st = FileTable.Stat.of(proc);
            Integer shared = table.sharedDescription(pid, fd, st);
            if (shared == null) {
                OpenFileRecord d = describe(pid, fd, e.getValue(), st, flags & ~Fd.O_CLOEXEC, info[0], table);
                descs.add(d);
                shared = d.objref();
            }
            table.addHolder(st, new FileTable.Holder(pid, fd, shared));
            fds.add(new FdRecord(pid, fd, shared, cloexec));
        }
        return new Table(descs, fds);
    }

    private static OpenFileRecord describe(int pid, int fd, String link, FileTable.Stat st, int flags, long pos,
                                           FileTable table) throws Refusal, IOException {
        Path proc = Path.of("/proc/" + pid + "/fd/" + fd);
        boolean fifo = (st.mode() & FileRecord.S_IFMT) == 0010000;
        boolean external = link.startsWith("pipe:") || link.startsWith("socket:") || isTty(link) || fifo;
        if (external) {
            if (fd > 2) {
                throw new Refusal(pid, "fd " + fd + " is " + link + ": only fds 0-2 may refer to a terminal, pipe or socket outside the process (not supported yet)");
            }
            return new OpenFileRecord(table.nextObjref(), OpenFileRecord.Kind.INHERITED, 0, flags, 0, fd, link);
        }
        if (!link.startsWith("/")) throw new Refusal(pid, "fd " + fd + " is " + link + ": not supported yet");
        FileRecord f = table.ref(pid, proc, link);
        if (!f.regular() && !f.directory() && !f.charDevice()) {
            throw new Refusal(pid, "fd " + fd + " is " + link + " (mode 0" + Integer.toOctalString(f.mode()) + "): not supported yet");
        }
        return new OpenFileRecord(table.nextObjref(), OpenFileRecord.Kind.PATH, f.objref(), flags, f.charDevice() ? 0 : pos, 0, link);
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
            throw new ImageException("file " + f.path() + " (FILE " + f.objref() + ") is gone");
        } catch (IOException e) {
            throw new ImageException("file " + f.path() + " (FILE " + f.objref() + "): " + e.getMessage());
        }
        if ((st.mode() & FileRecord.S_IFMT) != (f.mode() & FileRecord.S_IFMT)) {
            throw new ImageException("file " + f.path() + " (FILE " + f.objref() + ") is no longer the same kind of file");
        }
        if (f.charDevice()) return;
        if (st.ino() != f.ino() || st.dev() != f.dev()) {
            throw new ImageException("file " + f.path() + " (FILE " + f.objref() + ") was replaced: inode " + st.ino() + ", was " + f.ino());
        }
        if (mapped && (st.size() != f.size() || st.mtimeNanos() != f.mtimeNanos())) {
            throw new ImageException("mapped file " + f.path() + " (FILE " + f.objref() + ") changed since the checkpoint: size "
                    + st.size() + " (was " + f.size() + "), mtime changed: " + (st.mtimeNanos() != f.mtimeNanos()));
        }
        if (!mapped && !f.directory() && st.size() != f.size()) {
            warn.accept("file " + f.path() + " changed size since the checkpoint: " + st.size() + " bytes, was " + f.size());
        }
    }

    /** Installs every fd of one task; returns the local fds opened (closed by the caller after all tasks). */
    public static void restore(Tracee t, FdBroker broker, List<FdRecord> fds, Map<Integer, OpenFileRecord> descs,
                               Map<Integer, FileRecord> files, Map<Integer, Integer> opened) throws SysException {
        for (FdRecord fd : fds) {
            OpenFileRecord d = descs.get(fd.openFile());
            Integer local = opened.get(d.objref());
            if (local == null) {
                local = switch (d.kind()) {
                    case INHERITED -> d.inheritFd();
                    case PATH -> reopen(d, files.get(d.file()));
                };
                opened.put(d.objref(), local);
            }
            broker.install(t, local, fd.fd(), fd.cloexec());
        }
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

    /** Closes what the task inherited from the stub and the image does not have, the broker socket last. */
    public static void closeStrays(Tracee t, List<FdRecord> fds, int brokerFd) throws SysException {
        Set<Integer> keep = new java.util.HashSet<>();
        for (FdRecord f : fds) keep.add(f.fd());
        for (int fd = 0; fd <= 2; fd++) {
            if (!keep.contains(fd)) t.call(Nr.CLOSE, null, fd);   // EBADF when cryo had no such fd: fine
        }
        t.syscall("close(broker)", Nr.CLOSE, brokerFd);
    }
}
