package cryo.ns;

/**
 * Where the paths of an image are: a task in a mount namespace of its own sees its files under ITS root, so
 * cryo opens and stats them through /proc/PID/root (proc(5)), which enters that task's mount namespace and
 * root. For a plain tree (cryo's own root and mounts) the path is used as it is. The paths cryo gets from
 * /proc (fd, map_files, exe and cwd links) are resolved already: no symbolic link in them can lead out of
 * the task's root.
 */
public final class Root {
    /** cryo's own root: a plain tree, or a container before its init exists. */
    public static final Root CRYO = new Root(0);

    private final int pid;

    private Root(int pid) {
        this.pid = pid;
    }

    /** The host pid of the task whose root and mount namespace this is; 0 for cryo's own. */
    public int pid() {
        return pid;
    }

    /** The root (and mount namespace) of the task with host pid `pid`. */
    public static Root of(int pid) {
        return pid == 0 ? CRYO : new Root(pid);
    }

    /**
     * path, absolute as the tree sees it, as cryo can open it. /proc/self/ paths are cryo's own fds (the
     * stand-in of a ghost file, GhostFiles.files), opened in cryo's /proc: under the root of a task with a
     * /proc of another pid namespace, where cryo has no pid, /proc/self leads nowhere (fs/proc/self.c).
     */
    public String path(String path) {
        return pid == 0 || path.startsWith("/proc/self/") ? path : "/proc/" + pid + "/root" + path;
    }

    /** Where cryo opens the image's file f: on its own side for a file of the host (FileRecord.host). */
    public String path(cryo.files.FileRecord f) {
        return f.host() ? f.path() : path(f.path());
    }

    @Override
    public String toString() {
        return pid == 0 ? "/" : "/proc/" + pid + "/root";
    }
}
