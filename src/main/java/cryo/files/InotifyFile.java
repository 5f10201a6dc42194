package cryo.files;

import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.Inotify;
import cryo.sys.ProcFile;
import cryo.sys.SysException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;

/**
 * An inotify instance (inotify(7)): the description is an OPEN_FILE of kind INOTIFY with its flags
 * (O_NONBLOCK), each watch an INOTIFY_WATCH from the fdinfo line the kernel shows for it
 * (fs/notify/fdinfo.c): wd, mask, and the watched inode's device, number and file handle. Checkpoint opens
 * that inode by its handle (open_by_handle_at(2) on a mount of its device in the task's mount namespace), and
 * records it as a FILE by the path it has then, so that restart finds it again (under a container's root
 * too) and checks it is the same. Events queued but not read are not saved: reading them would consume them
 * (docs/design.md). Restart is InotifyRestore.
 */
final class InotifyFile implements FileKind {
    static final String LINK = "anon_inode:inotify";
    /** Restart gets wd N back by taking and dropping every wd before it (InotifyRestore): refused above this. */
    static final int MAX_WD = 1 << 20;

    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.INOTIFY);
    }

    public boolean takes(FdContext c) {
        return c.link().equals(LINK);
    }

    /** One "inotify wd:..." line of fdinfo; handleType 0 when the file system gives no file handle. */
    private record Watch(int wd, long ino, int sdev, int mask, int handleType, byte[] handle) {
        static Watch parse(String line) {
            int wd = 0, sdev = 0, mask = 0, type = 0;
            long ino = 0;
            byte[] handle = new byte[0];
            for (String field : line.substring("inotify ".length()).trim().split(" ")) {
                int colon = field.indexOf(':');
                String k = field.substring(0, colon), v = field.substring(colon + 1);
                switch (k) {   // every number in hex (inotify_fdinfo(), show_mark_fhandle())
                    case "wd" -> wd = Integer.parseUnsignedInt(v, 16);
                    case "ino" -> ino = Long.parseUnsignedLong(v, 16);
                    case "sdev" -> sdev = Integer.parseUnsignedInt(v, 16);
                    case "mask" -> mask = Integer.parseUnsignedInt(v, 16);
                    case "fhandle-type" -> type = Integer.parseUnsignedInt(v, 16);
                    case "f_handle" -> handle = HexFormat.of().parseHex(v);
                    default -> {
                    }
                }
            }
            return new Watch(wd, ino, sdev, mask, type, handle);
        }

        /** The device as mountinfo shows it: the kernel's dev_t is MAJOR << 20 | MINOR (include/linux/kdev_t.h). */
        String majorMinor() {
            return (sdev >>> 20) + ":" + (sdev & 0xfffff);
        }

        String describe() {
            return "wd " + wd + " (inode " + ino + " on device " + majorMinor() + ")";
        }
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        c.refuseIfSharedOutside("an inotify instance");
        int objref = c.table().nextObjref();
        List<String[]> mounts = null;
        List<InotifyWatchRecord> records = new ArrayList<>();
        for (String line : ProcFile.read("/proc/" + c.pid() + "/fdinfo/" + c.fd()).split("\n")) {
            if (!line.startsWith("inotify ")) continue;
            Watch w = Watch.parse(line);
            if (w.wd > MAX_WD) throw c.refuse("an inotify instance with watch " + w.describe() + ": restart gets a wd back by using up every wd below it, not supported above " + MAX_WD);
            if (w.handleType == 0) throw c.refuse("an inotify instance watching " + w.describe() + ", whose file system gives no file handle to find it again: not supported");
            if (mounts == null) mounts = mounts(c.pid());
            records.add(new InotifyWatchRecord(objref, w.wd, w.mask & InotifyWatchRecord.MASK_KEPT, watched(c, w, mounts).objref(), w.handleType, w.handle));
        }
        c.table().inotifyWatches().addAll(records);
        int queued = queued(c);
        if (queued > 0) {
            c.table().warn("task " + c.pid() + ": fd " + c.fd() + ": " + queued + " bytes of inotify events queued unread are not in the image (reading"
                    + " them would consume them): the program will not get them after restart");
        }
        return new OpenFileRecord(objref, OpenFileRecord.Kind.INOTIFY, 0, 0, c.flags(), 0, 0, c.link());
    }

    /** The bytes of events queued in c's instance; 0 when cryo cannot tell (the warning is all it is for). */
    private static int queued(FdContext c) {
        try {
            return Inotify.queuedBytes(c.pid(), c.fd());
        } catch (SysException e) {
            return 0;
        }
    }

    /** The FILE record of the inode watch w watches, opened by its handle; a refusal when it cannot be found again. */
    private static FileRecord watched(FdContext c, Watch w, List<String[]> mounts) throws Refusal, IOException {
        int fd = openByHandle(c, w, mounts);
        try {
            Path self = Path.of("/proc/self/fd/" + fd);
            FileTable.Stat st = FileTable.Stat.of(self);
            String path = Files.readSymbolicLink(self).toString();
            if (st.ino() != w.ino) throw c.refuse("an inotify instance watching " + w.describe() + ", but its file handle opened inode " + st.ino());
            if ((Integer) Files.getAttribute(self, "unix:nlink") == 0 || path.endsWith(" (deleted)")) {
                throw c.refuse("an inotify instance watching " + path + " (" + w.describe() + "), which was deleted: not supported");
            }
            int type = st.mode() & FileRecord.S_IFMT;
            if (type != FileRecord.S_IFREG && type != FileRecord.S_IFDIR && type != FileRecord.S_IFCHR && type != FileRecord.S_IFIFO) {
                throw c.refuse("an inotify instance watching " + path + " (" + w.describe() + ", mode 0" + Integer.toOctalString(st.mode()) + "): only files, directories, FIFOs and character devices are supported");
            }
            // Restart finds it by this path (under the task's root): it must lead there now.
            FileTable.Stat there;
            try {
                there = FileTable.Stat.of(Path.of("/proc/" + c.pid() + "/root" + path));
            } catch (NoSuchFileException e) {
                there = null;
            }
            if (there == null || there.dev() != st.dev() || there.ino() != st.ino()) {
                throw c.refuse("an inotify instance watching " + w.describe() + ", found at " + path + ", which does not lead to it from the task's root: not supported");
            }
            return c.table().ref(c.pid(), self, path);
        } finally {
            Fd.close(fd);
        }
    }

    /** cryo's O_PATH fd on the watched inode, by its handle on a mount of its device in the task's mount namespace. */
    private static int openByHandle(FdContext c, Watch w, List<String[]> mounts) throws Refusal {
        SysException last = null;
        for (String[] m : mounts) {
            if (!m[0].equals(w.majorMinor())) continue;
            int mountFd;
            try {
                mountFd = Fd.open("/proc/" + c.pid() + "/root" + m[2], Fd.O_PATH | Fd.O_DIRECTORY);
            } catch (SysException e) {
                last = e;
                continue;
            }
            try {
                return Inotify.openByHandle(mountFd, w.handleType, w.handle, w.describe());
            } catch (SysException e) {
                last = e;
            } finally {
                Fd.close(mountFd);
            }
        }
        throw c.refuse("an inotify instance watching " + w.describe() + ", which cryo cannot open by its file handle on any mount of that device"
                + (last == null ? " (the task has none)" : " (" + last.getMessage() + ")"));
    }

    /** {major:minor, root, mount point} of each mount pid sees (proc(5) mountinfo), those of the whole file system first. */
    private static List<String[]> mounts(int pid) throws IOException {
        List<String[]> whole = new ArrayList<>(), parts = new ArrayList<>();
        for (String line : ProcFile.read("/proc/" + pid + "/mountinfo").split("\n")) {
            String[] f = line.split(" ");
            if (f.length < 5) continue;
            String[] m = {f[2], unescape(f[3]), unescape(f[4])};
            (m[1].equals("/") ? whole : parts).add(m);
        }
        whole.addAll(parts);
        return whole;
    }

    /** mountinfo writes space, tab, newline and backslash as \ooo (fs/proc_namespace.c mangle()). */
    private static String unescape(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) == '\\' && i + 3 < s.length()) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(s.charAt(i));
            }
        }
        return b.toString();
    }

    public Restorer restorer(RestoreContext rc) {
        return new InotifyRestore(rc);
    }
}
