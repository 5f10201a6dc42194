package cryo.files;

import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.SysException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * Files of procfs the tree holds open. A file under /proc/PID/ or /proc/PID/task/TID/ belongs to a task
 * (/proc/self and /proc/thread-self resolve to those paths at open): a task of the tree has the same pid
 * after restart, so its file is reopened by path once the task exists; one of a task outside the tree is
 * refused. Any other /proc file is reopened by path. Offsets are set only once every task is restored: a
 * seq_file (maps, status...) generates its text up to the offset at lseek(2) time (fs/seq_file.c
 * traverse()), and before that the task's memory still has the stub's layout and cryo's gadget page.
 */
public final class ProcfsFile implements FileKind {
    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.PROC);
    }

    /** "/proc/..." with no empty, "." or ".." component. */
    static boolean isProcPath(String path) {
        if (!path.startsWith("/proc/")) return false;
        for (String c : path.substring(6).split("/", -1)) {
            if (c.isEmpty() || c.equals(".") || c.equals("..")) return false;
        }
        return true;
    }

    /** The task a /proc path belongs to: TID of /proc/PID/task/TID/..., else PID of /proc/PID/...; 0 for other /proc files. */
    public static int task(String path) {
        String[] c = path.substring("/proc/".length()).split("/");
        if (!number(c[0])) return 0;
        if (c.length >= 3 && c[1].equals("task") && number(c[2])) return Integer.parseInt(c[2]);
        return Integer.parseInt(c[0]);
    }

    private static boolean number(String s) {
        return !s.isEmpty() && s.length() <= 9 && s.chars().allMatch(Character::isDigit);
    }

    /** True when the fd is a file of the procfs mounted at /proc. */
    public boolean takes(FdContext c) throws IOException {
        return isProcPath(c.link()) && c.st().dev() == FileTable.Stat.of(Path.of("/proc")).dev();
    }

    /**
     * The description of a /proc file held by fd of process pid. Restart installs the fds of a table before
     * it creates the table's threads, so a file of a thread is accepted only if that thread belongs to this
     * process or to one restored before it.
     */
    public OpenFileRecord checkpoint(FdContext c) throws Refusal {
        String link = c.link();
        FileTable table = c.table();
        int task = task(link);
        if (task != 0) {
            Integer process = table.processOf(task);
            if (process == null) {
                String why = Files.exists(Path.of("/proc/" + task)) ? "which is outside the tree" : "which has exited";
                throw c.refuse(link + ", a file of task " + task + ", " + why + ": not supported");
            }
            if (process != task && table.restoredAfter(process, c.pid())) {
                throw c.refuse(link + ", a file of thread " + task + " of process " + process
                        + ", which restart creates after this process's fds: not supported");
            }
        }
        return new OpenFileRecord(table.nextObjref(), OpenFileRecord.Kind.PROC, 0, 0, c.flags(), c.pos(), 0, link);
    }

    /**
     * At restart: true while the task the file of d belongs to does not exist yet (a thread created later),
     * looked for in the /proc the tree sees (root: a fresh pid namespace's has its own).
     */
    static boolean waitsForTask(OpenFileRecord d, cryo.ns.Root root) {
        int task = task(d.description());
        return task != 0 && !Files.exists(Path.of(root.path("/proc/" + task)));
    }

    /**
     * Opens each description in cryo without its offset; finish() sets the offsets once every task of the
     * tree is restored and its fds installed.
     */
    public Restorer restorer(RestoreContext rc) {
        return new Restorer() {
            private final Map<Integer, OpenFileRecord> opened = new HashMap<>();

            public int open(OpenFileRecord d) throws SysException {
                int fd = Fd.open(rc.paths().path(d.description()), d.flags() & RegularFile.OPEN_FLAGS_KEPT | Fd.O_NOCTTY);
                opened.put(fd, d);
                return fd;
            }

            public void finish() throws SysException {
                for (var e : opened.entrySet()) {
                    if (e.getValue().pos() != 0) Fd.lseek(e.getKey(), e.getValue().pos(), e.getValue().description());
                }
            }

            public void close() {
                for (int fd : opened.keySet()) Fd.close(fd);
                opened.clear();
            }
        };
    }
}
