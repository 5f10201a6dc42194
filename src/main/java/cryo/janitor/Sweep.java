package cryo.janitor;

import cryo.sys.Errno;
import cryo.sys.FileIo;
import cryo.sys.Proc;
import cryo.sys.SysException;
import cryo.sys.SysvIpc;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Undoes the journal of a cryo that died (Journal): kills the tasks of a tree it had begun to release, removes
 * the IPC objects, ghost files and network lock tables it made. Each object is checked to be the one journaled
 * before it is removed: a task by pid and starttime; an IPC object by kind, id and key in the same IPC
 * namespace (a shared memory segment also by its creator, the owner); a ghost file (or FIFO, or socket
 * file) by path, device and inode once made, or, killed between its create and that line, a regular file,
 * FIFO or socket at the path changed at or after the GhostName line (a clock that stepped back meanwhile
 * leaves it); a lock table by its name, which names
 * its owner (and a checkpoint's table only when not held).
 */
public final class Sweep {
    /** The kernel stamps a file's ctime from a coarse clock (a tick behind at most): the margin for GhostName.since. */
    private static final long COARSE_NANOS = 50_000_000L;

    private Sweep() {
    }

    /** `cryo __sweep PID-STARTTIME`: the janitor of a cryo that died; 0, or 1 when something could not be undone. */
    public static int janitor(String ownerName) {
        Owner owner = Owner.ofName(ownerName);
        if (owner == null) return 2;
        return journal(Journal.DIR.resolve(ownerName), owner, line -> System.err.println("cryo janitor: " + line)) ? 0 : 1;
    }

    /**
     * The sweep any checkpoint or restart starts: the journals of dead owners whose janitor is gone too (killed
     * with them, or the machine's cleanup) on a thread of its own; null when there is none (nothing spawned).
     */
    public static Thread inBackground(Consumer<String> log) {
        List<Path> dead = new ArrayList<>();
        try (DirectoryStream<Path> dir = Files.newDirectoryStream(Journal.DIR)) {
            for (Path p : dir) {
                Owner o = Owner.ofName(p.getFileName().toString());
                if (o != null && !o.alive() && !janitorAlive(p)) dead.add(p);
            }
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            log.accept("warning: could not look for what killed cryo commands left: " + e.getMessage());
            return null;
        }
        if (dead.isEmpty()) return null;
        return Thread.ofPlatform().name("cryo-sweep").daemon().start(() -> {
            for (Path p : dead) journal(p, Owner.ofName(p.getFileName().toString()), line -> log.accept("warning: " + line));
        });
    }

    private static boolean janitorAlive(Path journal) throws IOException {
        try {
            for (String line : Files.readAllLines(journal)) {
                String[] w = line.split(" ");
                if (w.length == 3 && w[0].equals("janitor") && new Owner(Integer.parseInt(w[1]), Long.parseLong(w[2])).alive()) return true;
            }
        } catch (NoSuchFileException | NumberFormatException e) {
            return false;
        }
        return false;
    }

    /** The live entries of a journal: added and not retracted. */
    static List<Entry> live(List<String> lines) {
        List<Entry> live = new ArrayList<>();
        for (String line : lines) {
            if (line.startsWith("+ ")) {
                Entry e = Entry.parse(line.substring(2));
                if (e != null) live.add(e);
            } else if (line.startsWith("- ")) {
                live.remove(Entry.parse(line.substring(2)));
            }
        }
        return live;
    }

    /** Undoes one journal, then removes it; false (journal kept for another try) if something failed. */
    static boolean journal(Path journal, Owner owner, Consumer<String> log) {
        List<String> lines;
        try {
            lines = Files.readAllLines(journal);
        } catch (NoSuchFileException e) {
            return true;
        } catch (IOException e) {
            log.accept("could not read " + journal + ": " + e.getMessage());
            return false;
        }
        boolean ok = undo(live(lines), owner, log);
        if (ok) {
            try {
                Files.deleteIfExists(journal);
            } catch (IOException e) {
                log.accept("could not remove " + journal + ": " + e.getMessage());
            }
        }
        return ok;
    }

    /** Undoes entries of owner; false if one could not be. */
    static boolean undo(List<Entry> live, Owner owner, Consumer<String> log) {
        boolean ok = true;
        // tasks first: a half-released tree stops using what goes next
        for (Entry e : live) if (e instanceof Entry.Task) ok &= undo(e, owner, log);
        for (Entry e : live) {
            // a file whose device and inode are journaled is removed by them, not by its clock-based GhostName
            boolean exact = e instanceof Entry.GhostName g && live.stream().anyMatch(f -> f instanceof Entry.GhostFile m && m.path().equals(g.path()));
            if (!(e instanceof Entry.Task) && !exact) ok &= undo(e, owner, log);
        }
        return ok;
    }

    private static boolean undo(Entry e, Owner owner, Consumer<String> log) {
        String what = "what killed cryo " + owner.pid() + " left (" + e.line() + ")";
        try {
            switch (e) {
                case Entry.Task t -> {
                    if (new Owner(t.pid(), t.start()).alive()) Proc.kill(t.pid(), Proc.SIGKILL);
                }
                case Entry.IpcObject o -> undoIpc(o, owner);
                case Entry.GhostName g -> undoGhost(g);
                case Entry.GhostFile f -> undoGhostFile(f);
                case Entry.LockTable l -> cryo.netlock.NetworkLock.removeLeftover(l.table(), false);
                case Entry.HeldLock h -> cryo.netlock.NetworkLock.removeLeftover(h.table(), true);
            }
            return true;
        } catch (SysException x) {
            if (x.errno() == Errno.ESRCH || x.errno() == Errno.EINVAL || x.errno() == Errno.EIDRM || x.errno() == Errno.ENOENT) return true;   // gone
            log.accept("could not undo " + what + ": " + x.getMessage());
            return false;
        } catch (IOException | RuntimeException x) {
            log.accept("could not undo " + what + ": " + x.getMessage());
            return false;
        }
    }

    private static void undoIpc(Entry.IpcObject o, Owner owner) throws SysException, IOException {
        if (o.ns() != ipcNamespace()) return;   // another namespace's: its tasks' (gone with them) or not ours to judge
        switch (o.kind()) {
            case "shm" -> {
                SysvIpc.ShmStat s = SysvIpc.shmStat(o.id());
                if (s.perm().key() == o.key() && s.cpid() == owner.pid()) SysvIpc.shmrmid(o.id());
            }
            case "sem" -> {
                if (SysvIpc.semStat(o.id()).perm().key() == o.key()) SysvIpc.semrmid(o.id());
            }
            case "msg" -> {
                if (SysvIpc.msgStat(o.id()).perm().key() == o.key()) SysvIpc.msgrmid(o.id());
            }
            default -> throw new IOException("unknown IPC kind " + o.kind());
        }
    }

    private static void undoGhost(Entry.GhostName g) throws IOException, SysException {
        Map<String, Object> a;
        try {
            a = Files.readAttributes(Path.of(g.path()), "unix:mode,ctime", LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return;
        }
        FileTime ctime = (FileTime) a.get("ctime");
        long nanos = ctime.to(java.util.concurrent.TimeUnit.NANOSECONDS);
        int type = (Integer) a.get("mode") & 0170000;
        boolean made = type == 0100000 || type == 0010000 || type == 0140000;   // a regular file, a FIFO, a socket
        if (made && nanos >= g.since() - COARSE_NANOS) FileIo.unlink(g.path());
    }

    private static void undoGhostFile(Entry.GhostFile f) throws IOException, SysException {
        Map<String, Object> a;
        try {
            a = Files.readAttributes(Path.of(f.path()), "unix:dev,ino", LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return;
        }
        if ((Long) a.get("dev") == f.dev() && (Long) a.get("ino") == f.ino()) FileIo.unlink(f.path());
    }

    /** The inode of this process's IPC namespace (the journal's entries name theirs). */
    public static long ipcNamespace() throws IOException {
        String link = Files.readSymbolicLink(Path.of("/proc/self/ns/ipc")).toString();   // ipc:[INODE]
        return Long.parseLong(link.substring(link.indexOf('[') + 1, link.length() - 1));
    }
}
