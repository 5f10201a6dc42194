package cryo.files;

import cryo.image.Image;
import cryo.image.ImageException;
import cryo.image.Refusal;
import cryo.remote.Scratch;
import cryo.remote.Tracee;
import cryo.sys.Errno;
import cryo.sys.Flock;
import cryo.sys.Nr;
import cryo.sys.ProcFile;
import cryo.sys.SysException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * File locks (fs/locks.c), both halves. Checkpoint reads the `lock:` lines of /proc/PID/fdinfo/N, which name
 * the locks held through that description: POSIX locks of the fd table's owner, OFD and flock locks of the
 * description itself, leases (refused). Only held locks are listed there: a task that was blocked in
 * F_SETLKW left the kernel's wait list when it was frozen and runs its call again after restart.
 * /proc/locks then shows whether a task of the tree holds a lock that no fd of the tree showed (a
 * description kept only by a mapping or by a process outside the tree): refused. Restart takes each lock
 * again from the task that owns or holds it, through one of its own fds of the description, once every fd is
 * in place and before any task runs; a conflicting holder fails the restart, naming file, range and holder.
 */
public final class FileLocks {
    private FileLocks() {
    }

    /** One line of /proc/locks or fdinfo, e.g. "1: POSIX  ADVISORY  WRITE 4649 fe:00:2146750 100 EOF". */
    record Line(String kind, String mode, String access, int pid, String devIno, long start, long end, boolean waiter) {
        /** The line without its number: two lines with the same key are the same lock or an identical one. */
        String key() {
            return kind + " " + access + " " + pid + " " + devIno + " " + start + " " + end;
        }

        /** "OFD write lock", "flock shared lock", as LockRecord.what() says it. */
        String what() {
            boolean write = access.equals("WRITE");
            return switch (kind) {
                case "OFDLCK" -> "OFD " + (write ? "write" : "read") + " lock";
                case "FLOCK" -> "flock " + (write ? "exclusive" : "shared") + " lock";
                default -> kind + " " + access.toLowerCase() + " lock";
            };
        }

        long ino() {
            return Long.parseLong(devIno.substring(devIno.lastIndexOf(':') + 1));
        }

        /** struct flock's l_len: 0 for "to EOF" (end is -1). */
        long len() {
            return end < 0 ? 0 : end - start + 1;
        }

        /** The line, or null when it is not of the form fs/locks.c lock_get_status() prints. */
        static Line parse(String text) {
            String[] f = words(text);
            try {
                int i = 1;
                boolean waiter = f[i].equals("->");
                if (waiter) i++;
                String kind = f[i++];
                String mode = f[i++];
                String access = f[i++];
                int pid = Integer.parseInt(f[i++]);
                String devIno = f[i++];
                long start = Long.parseLong(f[i++]);
                long end = f[i].equals("EOF") ? -1 : Long.parseLong(f[i]);
                Long.parseLong(devIno.substring(devIno.lastIndexOf(':') + 1));
                return new Line(kind, mode, access, pid, devIno, start, end, waiter);
            } catch (RuntimeException e) {
                return null;
            }
        }
    }

    /** The words of a line split at spaces and tabs (no regular expression: this runs on every checkpoint). */
    private static String[] words(String text) {
        List<String> out = new ArrayList<>(10);
        int i = 0, n = text.length();
        while (i < n) {
            while (i < n && (text.charAt(i) == ' ' || text.charAt(i) == '\t')) i++;
            int start = i;
            while (i < n && text.charAt(i) != ' ' && text.charAt(i) != '\t') i++;
            if (i > start) out.add(text.substring(start, i));
        }
        return out.toArray(String[]::new);
    }

    // ---------------------------------------------------------------- checkpoint

    /**
     * Every lock the frozen tree holds, from the fd tables of its processes (by pid, in tree order); each
     * lock that cannot be taken again goes to refused.
     */
    public static List<LockRecord> checkpoint(Map<Integer, OpenFiles.Table> tables, FileTable files, Refusal.Collector refused) throws IOException {
        List<Line> system = new ArrayList<>();
        for (String text : ProcFile.read("/proc/locks").split("\n")) {
            Line l = Line.parse(text);
            if (l != null) system.add(l);
        }
        if (system.stream().allMatch(Line::waiter)) return List.of();
        Set<Long> lockedInodes = new HashSet<>();
        for (Line l : system) lockedInodes.add(l.ino());

        Map<Integer, OpenFileRecord> descs = new HashMap<>();
        Map<Integer, List<Integer>> holders = new HashMap<>();
        for (var e : tables.entrySet()) {
            for (OpenFileRecord d : e.getValue().descriptions()) descs.put(d.objref(), d);
            for (FdRecord fd : e.getValue().fds()) {
                List<Integer> h = holders.computeIfAbsent(fd.openFile(), k -> new ArrayList<>());
                if (!h.contains(e.getKey())) h.add(e.getKey());
            }
        }
        Map<String, LockRecord> found = new LinkedHashMap<>();
        Map<String, Integer> seen = new HashMap<>();       // line key -> how many distinct locks showed it
        for (var e : tables.entrySet()) {
            int pid = e.getKey();
            for (FdRecord fd : e.getValue().fds()) {
                OpenFileRecord d = descs.get(fd.openFile());
                // shared with a table that was refused (its descriptions are not saved): the checkpoint fails anyway
                if (d == null) continue;
                long ino = inode(d, files);
                if (ino >= 0 && !lockedInodes.contains(ino)) continue;
                for (Line l : fdinfoLocks(pid, fd.fd())) {
                    String key = switch (l.kind) {
                        case "POSIX" -> l.key();
                        default -> fd.openFile() + " " + l.key();
                    };
                    if (found.containsKey(key)) continue;
                    seen.merge(l.key(), 1, Integer::sum);
                    try {
                        found.put(key, record(pid, fd, d, l, holders));
                    } catch (Refusal r) {
                        found.put(key, null);
                        refused.add(r);
                    }
                }
            }
        }
        unseen(system, seen, tables.keySet(), refused);
        List<LockRecord> out = new ArrayList<>();
        for (LockRecord r : found.values()) if (r != null) out.add(r);
        return out;
    }

    /**
     * Locks that /proc/locks lists but no fdinfo of the tree showed, though they may be the tree's: those
     * /proc/locks gives to a task of the tree, and OFD or flock locks (whose line names no holder, or the
     * task that took them) on a file the tree maps that no process outside shows through an fd. Either is
     * held through a description no fd of the tree holds, which restart cannot recreate.
     */
    private static void unseen(List<Line> system, Map<String, Integer> seen, Set<Integer> tree, Refusal.Collector refused) throws IOException {
        Map<String, Integer> left = new LinkedHashMap<>();
        for (Line l : system) if (!l.waiter) left.merge(l.key(), 1, Integer::sum);
        seen.forEach((k, n) -> left.merge(k, -n, Integer::sum));
        Map<String, Mapper> mapped = null;
        Map<String, Integer> outside = null;
        for (Line l : system) {
            if (l.waiter || left.getOrDefault(l.key(), 0) <= 0) continue;
            String range = LockRecord.range(l.start, l.len());
            if (tree.contains(l.pid)) {
                if (l.kind.equals("LEASE") || l.kind.equals("DELEG")) {
                    refused.add(l.pid, "holds a lease (F_SETLEASE) on inode " + l.devIno + ": leases are not supported");
                } else {
                    refused.add(l.pid, "holds a " + l.what() + " on inode " + l.devIno + " (" + range
                            + ") through an open file description that no fd of the tree holds (kept by a mapping, or by a process outside the tree): not supported");
                }
            } else if (l.kind.equals("OFDLCK") || l.kind.equals("FLOCK")) {
                if (mapped == null) mapped = mappedInodes(tree);
                Mapper mapper = mapped.get(l.devIno);
                if (mapper == null) continue;
                if (outside == null) outside = outsideLocks(tree, mapped.keySet());
                if (outside.getOrDefault(l.key(), 0) >= left.get(l.key())) continue;
                refused.add(mapper.pid(), "maps " + mapper.path() + ", whose " + l.what() + " on " + range
                        + " is held through an open file description that no fd shows: if the mapping keeps it, restart could not take it again: not supported");
            } else {
                continue;
            }
            left.put(l.key(), 0);
        }
    }

    /** A task of the tree that maps a file. */
    private record Mapper(int pid, String path) {
    }

    /** The files ("fe:00:123", as /proc/locks names them) that tasks of the tree map, each with one such task. */
    private static Map<String, Mapper> mappedInodes(Set<Integer> tree) throws IOException {
        Map<String, Mapper> out = new HashMap<>();
        for (int pid : tree) {
            for (String line : ProcFile.read("/proc/" + pid + "/maps").split("\n")) {
                String[] f = words(line);
                if (f.length >= 6 && !f[4].equals("0")) out.putIfAbsent(f[3] + ":" + f[4], new Mapper(pid, line.indexOf('/') >= 0 ? line.substring(line.indexOf('/')) : f[5]));
            }
        }
        return out;
    }

    /** How often the fdinfo of processes outside the tree shows each lock on these files (line key). */
    private static Map<String, Integer> outsideLocks(Set<Integer> tree, Set<String> files) {
        Map<String, Integer> out = new HashMap<>();
        int self = cryo.sys.Proc.getpid();
        java.io.File[] procs = new java.io.File("/proc").listFiles();
        for (java.io.File p : procs == null ? new java.io.File[0] : procs) {
            String name = p.getName();
            if (name.isEmpty() || !name.chars().allMatch(Character::isDigit)) continue;
            int pid = Integer.parseInt(name);
            if (tree.contains(pid) || pid == self) continue;
            String[] fds = new java.io.File(p, "fdinfo").list();
            for (String fd : fds == null ? new String[0] : fds) {
                try {
                    for (Line l : fdinfoLocks(pid, Integer.parseInt(fd))) if (files.contains(l.devIno)) out.merge(l.key(), 1, Integer::sum);
                } catch (IOException | NumberFormatException e) {
                    // gone meanwhile
                }
            }
        }
        return out;
    }

    private static LockRecord record(int pid, FdRecord fd, OpenFileRecord d, Line l, Map<Integer, List<Integer>> holders) throws Refusal {
        String where = "fd " + fd.fd() + " (" + d.description() + ")";
        if (l.kind.equals("LEASE") || l.kind.equals("DELEG")) {
            throw new Refusal(pid, where + " holds a lease (F_SETLEASE): leases are not supported");
        }
        LockRecord.Kind kind = switch (l.kind) {
            case "POSIX" -> LockRecord.Kind.POSIX;
            case "OFDLCK" -> LockRecord.Kind.OFD;
            case "FLOCK" -> LockRecord.Kind.FLOCK;
            default -> throw new Refusal(pid, where + " holds a lock of kind " + l.kind + ": not supported");
        };
        if (!l.mode.equals("ADVISORY")) throw new Refusal(pid, where + " holds a " + l.mode + " " + l.kind + " lock: not supported");
        if (d.kind() != OpenFileRecord.Kind.PATH) {
            throw new Refusal(pid, where + " holds a " + l.kind + " lock on a " + d.kind().toString().toLowerCase().replace('_', ' ') + " description: not supported");
        }
        boolean write = switch (l.access) {
            case "WRITE" -> true;
            case "READ" -> false;
            default -> throw new Refusal(pid, where + " holds a " + l.kind + " lock of type " + l.access + ": not supported");
        };
        List<Integer> h = holders.get(fd.openFile());
        int owner = switch (kind) {
            // the owner of a POSIX lock is the fd table it was taken from (fs/locks.c posix_same_owner())
            case POSIX -> {
                if (!h.contains(l.pid)) {
                    throw new Refusal(pid, where + " shows a POSIX lock of process " + l.pid + ", which holds no fd of that description in the tree: not supported");
                }
                yield l.pid;
            }
            // the task that took a flock lock, if it still holds the description (so /proc/locks names it again)
            case FLOCK -> h.contains(l.pid) ? l.pid : pid;
            case OFD -> pid;
        };
        return new LockRecord(owner, kind, fd.openFile(), write, l.start, kind == LockRecord.Kind.FLOCK ? 0 : l.len());
    }

    /** The inode of what a description opens, or -1 when the image does not know it. */
    private static long inode(OpenFileRecord d, FileTable files) {
        return switch (d.kind()) {
            case PATH, FIFO -> files.file(d.file()).ino();
            case PROC, EVENTFD, EPOLL, INOTIFY, UNIX_SOCKET, UDP_SOCKET, TCP_SOCKET -> -1L;   // procfs, anonymous files and sockets take no locks
            case TIMERFD, SIGNALFD -> -1L;   // anonymous inodes, all one: locks on them are not looked for
            case PTY_MASTER, PTY_SLAVE -> -1L;   // a new pair at restart: locks on it are not looked for
            case GHOST -> files.ghosts().inode(d.file());   // a lock on it is refused in record()
            case MEMFD, FIFO_UNLINKED -> files.unnamed().inode(d.file());
            case PIPE_READ, PIPE_WRITE -> files.pipes().stream().filter(p -> p.objref() == d.pipe()).findFirst().map(PipeRecord::inode).orElse(-1L);
            case INHERITED -> {
                // "pipe:[123]", "socket:[456]": the inode; a terminal's path: unknown
                String t = d.description();
                int open = t.indexOf(":["), close = t.lastIndexOf(']');
                long ino = -1;
                if (open > 0 && close > open + 2) {
                    try {
                        ino = Long.parseLong(t, open + 2, close, 10);
                    } catch (NumberFormatException e) {
                        // not an inode
                    }
                }
                yield ino;
            }
        };
    }

    private static List<Line> fdinfoLocks(int pid, int fd) throws IOException {
        List<Line> out = new ArrayList<>();
        for (String l : ProcFile.read("/proc/" + pid + "/fdinfo/" + fd).split("\n")) {
            if (!l.startsWith("lock:")) continue;
            Line x = Line.parse(l.substring(5));
            // a line cryo cannot read is a lock it cannot take again: record() refuses its "kind"
            out.add(x != null ? x : new Line("\"" + l.substring(5).trim() + "\"", "", "", 0, "0:0:0", 0, 0, false));
        }
        return out;
    }

    // ---------------------------------------------------------------- restart

    /**
     * Takes every lock of process p again, in its task t (stopped, its fds in place): fcntl(F_SETLK) for its
     * POSIX locks, fcntl(F_OFD_SETLK) and flock() on its fd of the description for the others. Never waits:
     * a lock someone else holds fails the restart with the holder's name.
     */
    public static void restore(Tracee t, Image image, Image.ProcessImage p) throws SysException, ImageException {
        for (LockRecord l : p.locks) {
            int fd = p.fds.stream().filter(f -> f.openFile() == l.openFile()).findFirst().orElseThrow().fd();
            FileRecord file = image.files.get(image.openFiles.get(l.openFile()).file());
            if (l.kind() == LockRecord.Kind.FLOCK) {
                long r = t.call(Nr.FLOCK, null, fd, (l.write() ? Flock.LOCK_EX : Flock.LOCK_SH) | Flock.LOCK_NB);
                if (r == -Errno.EAGAIN) throw conflict(l, file, flockHolder(l, file));
                if (r < 0) throw new SysException("remote flock(" + fd + ") of " + file.path() + " in task " + t.tid, (int) -r);
                continue;
            }
            int set = l.kind() == LockRecord.Kind.POSIX ? Flock.F_SETLK : Flock.F_OFD_SETLK;
            int get = l.kind() == LockRecord.Kind.POSIX ? Flock.F_GETLK : Flock.F_OFD_GETLK;
            try (Arena a = Arena.ofConfined()) {
                long arg = t.put(Scratch.GENERAL, Flock.of(l.write(), l.start(), l.len()).toSegment(a));
                long r = t.call(Nr.FCNTL, null, fd, set, arg);
                if (r == -Errno.EAGAIN || r == -Errno.EACCES) {
                    t.syscall("fcntl(" + fd + ", F_GETLK) of " + file.path(), Nr.FCNTL, fd, get, arg);
                    throw conflict(l, file, recordHolder(Flock.of(t.get(arg, Flock.SIZE, a))));
                }
                if (r < 0) throw new SysException("remote fcntl(" + fd + ", " + l.what() + " on " + l.range() + ") of " + file.path() + " in task " + t.tid, (int) -r);
            }
        }
    }

    private static ImageException conflict(LockRecord l, FileRecord file, String holder) {
        return new ImageException("file " + file.path() + ": the " + l.what() + " of task " + l.pid() + " on " + l.range()
                + " cannot be taken again: " + holder);
    }

    /** What F_GETLK / F_OFD_GETLK answered about the lock in the way. */
    private static String recordHolder(Flock f) {
        String type = f.type() == Flock.F_WRLCK ? "write" : "read";
        String range = LockRecord.range(f.start(), f.len());
        if (f.type() == Flock.F_UNLCK) return "another process held a conflicting lock, and let it go meanwhile";
        if (f.pid() > 0) return "process " + f.pid() + " holds a conflicting " + type + " lock on " + range;
        return "an open file description lock (OFD, no owning process) holds a conflicting " + type + " lock on " + range;
    }

    /** flock(2) has no F_GETLK: the holder is the FLOCK line of /proc/locks on the same inode that conflicts. */
    private static String flockHolder(LockRecord l, FileRecord file) {
        String devIno = devIno(file.dev(), file.ino());
        try {
            for (String text : ProcFile.read("/proc/locks").split("\n")) {
                Line x = Line.parse(text);
                if (x != null && !x.waiter && x.kind.equals("FLOCK") && x.devIno.equals(devIno) && (l.write() || x.access.equals("WRITE"))) {
                    return "process " + x.pid + " holds a flock " + (x.access.equals("WRITE") ? "exclusive" : "shared") + " lock on it";
                }
            }
        } catch (IOException e) {
            // fall through to the message without a pid
        }
        return "another process holds a conflicting flock lock on it";
    }

    /** "fe:00:2146750": major and minor of st_dev in hex, as fs/locks.c prints them, then the inode. */
    static String devIno(long dev, long ino) {
        long major = ((dev >>> 32) & 0xfffff000L) | ((dev >>> 8) & 0xfff);
        long minor = ((dev >>> 12) & 0xffffff00L) | (dev & 0xff);
        return String.format("%02x:%02x:%d", major, minor, ino);
    }
}
