package cryo.tty;

import cryo.files.FdContext;
import cryo.files.FileTable;
import cryo.image.ImageWriter;
import cryo.sys.Fd;
import cryo.sys.Proc;
import cryo.sys.SysException;
import cryo.sys.Tty;
import cryo.sys.TtyIo;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The pty pairs of one checkpoint. On first use every fd of the tree is looked at once: the masters (fds on
 * /dev/ptmx or a devpts' ptmx: fdinfo shows tty-index), each known by its devpts (st_dev of its slave, opened
 * O_PATH with TIOCGPTPEER, which opens nothing) and number; and which of their slaves the tree holds. A slave
 * fd is this package's only if its master is in the tree. The records are written after every fd is met.
 */
public final class Ptys {
    /** A pty: its devpts and number. */
    record Key(long devpts, int index) {
    }

    /** Unix98 slaves are majors 136-143 (Documentation/admin-guide/devices.txt); minor + 256 * (major - 136). */
    static final int SLAVE_MAJOR = 136, SLAVE_MAJORS = 8;
    private static final Pattern SLAVE = Pattern.compile("/dev/pts/[0-9]+");

    /** The masters of the tree, with the objref each gets (given out before the master is met, to its slaves). */
    private final Map<Key, Integer> masters = new LinkedHashMap<>();
    /** Masters whose slave some task of the tree holds (a /dev/pts/N fd or a /dev/tty fd on it). */
    private final Set<Key> slavesHeld = new HashSet<>();
    /** The devpts mounted at /dev/pts where the tree's root sees it: restart opens its ptmx. */
    final long treeDevpts;
    private final List<TtyRecord> records = new ArrayList<>();
    private final Map<Integer, PtyRecord> byObjref = new HashMap<>();

    private Ptys(long treeDevpts) {
        this.treeDevpts = treeDevpts;
    }

    static Ptys of(FdContext c) {
        return c.table().kindState(Ptys.class, () -> scan(c.table()));
    }

    static boolean isMasterLink(String link) {
        return link.equals("/dev/ptmx") || link.endsWith("/ptmx");
    }

    static boolean isSlaveLink(String link) {
        return SLAVE.matcher(link).matches();
    }

    private static Ptys scan(FileTable table) {
        long devpts = -1;
        int root = table.processes().iterator().next();
        try {
            devpts = (Long) Files.readAttributes(Path.of("/proc/" + root + "/root/dev/pts"), "unix:dev").get("dev");
        } catch (IOException | RuntimeException none) {
            // no devpts where the tree looks: every pty of the tree is refused as not the tree's
        }
        Ptys p = new Ptys(devpts);
        for (int pid : table.processes()) {
            Map<Integer, String> links;
            try {
                links = cryo.files.OpenFiles.links(pid);
            } catch (IOException zombie) {
                continue;
            }
            for (var e : links.entrySet()) p.meet(pid, e.getKey(), e.getValue());
        }
        return p;
    }

    private void meet(int pid, int fd, String link) {
        try {
            if (isMasterLink(link)) {
                Key k = masterKey(pid, fd);
                if (k != null) masters.putIfAbsent(k, 0);
            } else if (isSlaveLink(link)) {
                Map<String, Object> a = Files.readAttributes(Path.of("/proc/" + pid + "/fd/" + fd), "unix:dev,rdev");
                Key k = slaveKey((Long) a.get("dev"), (Long) a.get("rdev"));
                if (k != null) slavesHeld.add(k);
            } else if (link.equals("/dev/tty")) {
                Key k = devTtyKey(pid, fd);
                if (k != null) slavesHeld.add(k);
            }
        } catch (IOException | SysException | RuntimeException gone) {
            // closed meanwhile, or not a terminal: the fd's kind says what it is
        }
    }

    /** The pty a master fd of a task is, or null if it is none. */
    static Key masterKey(int pid, int fd) throws SysException {
        int dup = Proc.pidfdGetfd(pid, fd);
        try {
            int index = Tty.ptyNumber(dup);
            int peer = Tty.openPeer(dup, Fd.O_PATH | Fd.O_CLOEXEC);
            try {
                return new Key(TtyIo.devices(peer, "slave of task " + pid + " fd " + fd)[0], index);
            } finally {
                Fd.close(peer);
            }
        } finally {
            Fd.close(dup);
        }
    }

    static Key slaveKey(long dev, long rdev) {
        int major = TtyIo.major(rdev);
        if (major < SLAVE_MAJOR || major >= SLAVE_MAJOR + SLAVE_MAJORS) return null;
        return new Key(dev, (major - SLAVE_MAJOR) * 256 + TtyIo.minor(rdev));
    }

    /** The pty slave a /dev/tty fd of a task is (its controlling terminal when it opened it), on the tree's devpts. */
    Key devTtyKey(int pid, int fd) throws SysException {
        int dup = Proc.pidfdGetfd(pid, fd);
        try {
            return slaveKey(treeDevpts, TtyIo.device(dup));
        } finally {
            Fd.close(dup);
        }
    }

    /** The pty of the tree whose slave is device rdev (a tty_nr of /proc/PID/stat), or null. */
    Integer masterOf(long rdev) {
        Key k = slaveKey(treeDevpts, rdev);
        return k == null ? null : masterObjref(k);
    }

    boolean inTree(Key k) {
        return k != null && masters.containsKey(k);
    }

    boolean slaveHeld(Key k) {
        return slavesHeld.contains(k);
    }

    /** The objref of the master of k, given out on first ask; null if its master is not in the tree. */
    Integer masterObjref(Key k, FileTable table) {
        Integer o = masters.get(k);
        if (o == null) return null;
        if (o == 0) masters.put(k, o = table.nextObjref());
        return o;
    }

    private Integer masterObjref(Key k) {
        Integer o = masters.get(k);
        return o == null || o == 0 ? null : o;
    }

    void add(TtyRecord r) {
        if (r instanceof PtyRecord p) byObjref.put(p.objref(), p);
        records.add(r);
    }

    PtyRecord pty(int objref) {
        return byObjref.get(objref);
    }

    /** "pty N (objref M)", also for a pty refused (no record). */
    String describe(int objref) {
        PtyRecord p = byObjref.get(objref);
        if (p != null) return p.describe();
        for (var e : masters.entrySet()) if (e.getValue() == objref) return "pty " + e.getKey().index();
        return "pty objref " + objref;
    }

    List<TtyRecord> records() {
        return records;
    }

    /** The pty records of one checkpoint, after every fd is met (Checkpoint.write): pairs first. */
    public static void write(FileTable files, ImageWriter w) throws IOException {
        Ptys p = files.kindState(Ptys.class, () -> null);
        if (p == null) return;
        for (TtyRecord r : p.records) if (r instanceof PtyRecord) w.write(r);
        for (TtyRecord r : p.records) if (!(r instanceof PtyRecord)) w.write(r);
    }
}
