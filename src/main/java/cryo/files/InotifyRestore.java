package cryo.files;

import cryo.sys.Errno;
import cryo.sys.Fd;
import cryo.sys.Inotify;
import cryo.sys.SysException;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Restart of inotify instances (InotifyFile), each created once in cryo. A program maps its watch
 * descriptors to what they watch, so each watch must come back with its own wd. The kernel hands wds out
 * cyclically, each one above the last handed out (idr_alloc_cyclic() in inotify_add_to_idr(),
 * fs/notify/inotify/inotify_user.c), so in a new instance the watches are added in ascending wd order, and a
 * wd below the wanted one is used up by adding the watch and removing it again. A removed watch queues an
 * IN_IGNORED event, and restart itself opens the tree's files (which queues IN_OPEN for a watch on them or
 * their directory), so open() adds every watch with a mask (IN_DELETE_SELF) that restart does not trigger,
 * and finish(), once every fd of the tree is in place, empties the queue and gives each watch its real mask:
 * adding a watch on an inode the instance watches already replaces its mask, IN_ONESHOT and IN_EXCL_UNLINK
 * included, and keeps its wd (inotify_update_existing_watch()).
 */
final class InotifyRestore implements FileKind.Restorer {
    /** The mask a watch has until finish(). */
    private static final int QUIET = Inotify.IN_DELETE_SELF;
    /** Used-up wds queue an IN_IGNORED each: the queue is emptied this often (max_queued_events is 16384 by default). */
    private static final int DRAIN_EVERY = 4096;

    private final RestoreContext rc;
    /** cryo's fd of each instance made, and its description. */
    private final Map<Integer, OpenFileRecord> opened = new LinkedHashMap<>();

    InotifyRestore(RestoreContext rc) {
        this.rc = rc;
    }

    public int open(OpenFileRecord d) throws SysException {
        int fd = Inotify.init1(Inotify.IN_NONBLOCK);
        opened.put(fd, d);
        for (InotifyWatchRecord w : rc.inotify().of(d.objref())) {
            int target = target(w);
            try {
                take(fd, w, target);
            } finally {
                Fd.close(target);
            }
        }
        return fd;
    }

    /** Every fd in place: each instance's queue emptied, each watch its own mask, the instance its flags. */
    public void finish() throws SysException {
        for (var e : opened.entrySet()) {
            int fd = e.getKey();
            Inotify.drain(fd);
            for (InotifyWatchRecord w : rc.inotify().of(e.getValue().objref())) {
                int target = target(w);
                try {
                    int wd = Inotify.addWatch(fd, "/proc/self/fd/" + target, w.mask(), describe(w));
                    if (wd != w.wd()) throw new SysException("inotify_add_watch(" + describe(w) + ") gave wd " + wd + " when setting its mask (the watch went away during restart)", Errno.EBUSY);
                } finally {
                    Fd.close(target);
                }
            }
            Fd.fcntl(fd, Fd.F_SETFL, e.getValue().flags() & Fd.O_NONBLOCK);
        }
    }

    /** Adds watch w (quiet) on target as wd w.wd(), using up the wds below it that the instance has not handed out yet. */
    private static void take(int fd, InotifyWatchRecord w, int target) throws SysException {
        String path = "/proc/self/fd/" + target;
        for (int used = 1; ; used++) {
            int wd = Inotify.addWatch(fd, path, QUIET, describe(w));
            if (wd == w.wd()) return;
            if (wd > w.wd()) throw new SysException("inotify_add_watch(" + describe(w) + ") gave wd " + wd + ", past the wanted " + w.wd(), Errno.EEXIST);
            Inotify.rmWatch(fd, wd);
            if (used % DRAIN_EVERY == 0) Inotify.drain(fd);
        }
    }

    /**
     * cryo's O_PATH fd on the inode w watched: by its path (under the container's root), then by its file
     * handle on that file system, so that a file replaced since the checkpoint by one with the same inode number
     * is not taken for it (the handle holds the inode's generation). A file on a file system restart made
     * anew (a container's tmpfs) has a new inode: there the path is what names it.
     */
    private int target(InotifyWatchRecord w) throws SysException {
        FileRecord f = rc.files().get(w.file());
        String path = rc.paths().path(f);
        int byPath = Fd.open(path, Fd.O_PATH);
        if (rc.madeByRestart().test(f)) return byPath;
        try {
            int byHandle = byHandle(w, f, path, byPath);
            boolean same;
            try {
                same = sameInode(byPath, byHandle);
            } catch (SysException e) {
                Fd.close(byHandle);
                throw e;
            }
            if (!same) {
                Fd.close(byHandle);
                throw new SysException("watched file " + f.path() + " (" + describe(w) + ") is not the inode it was at checkpoint: its file handle opens another inode", Errno.ESTALE);
            }
            return byHandle;
        } finally {
            Fd.close(byPath);
        }
    }

    /** open_by_handle_at finds the file system by a directory of it: the watched one, or the watched file's parent. */
    private static int byHandle(InotifyWatchRecord w, FileRecord f, String path, int byPath) throws SysException {
        int dir = f.directory() ? byPath : Fd.open(path.substring(0, Math.max(1, path.lastIndexOf('/'))), Fd.O_PATH | Fd.O_DIRECTORY);
        try {
            return Inotify.openByHandle(dir, w.handleType(), w.handle(), f.path());
        } catch (SysException e) {
            if (e.errno() != Errno.ESTALE) throw e;
            throw new SysException("watched file " + f.path() + " (" + describe(w) + ") is not the inode it was at checkpoint: open_by_handle_at", Errno.ESTALE);
        } finally {
            if (dir != byPath) Fd.close(dir);
        }
    }

    private static boolean sameInode(int a, int b) throws SysException {
        try {
            FileTable.Stat x = FileTable.Stat.of(Path.of("/proc/self/fd/" + a)), y = FileTable.Stat.of(Path.of("/proc/self/fd/" + b));
            return x.dev() == y.dev() && x.ino() == y.ino();
        } catch (java.io.IOException e) {
            throw new SysException("stat(/proc/self/fd/" + a + "): " + e.getMessage(), Errno.EIO);
        }
    }

    private static String describe(InotifyWatchRecord w) {
        return "inotify " + w.inotify() + " wd " + w.wd();
    }

    public void close() {
        for (int fd : opened.keySet()) Fd.close(fd);
        opened.clear();
    }
}
