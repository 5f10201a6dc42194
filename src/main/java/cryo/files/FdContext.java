package cryo.files;

import cryo.image.Refusal;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * What checkpoint knows of one fd of a frozen task before its kind decides what to record: the readlink text
 * of /proc/PID/fd/N, what it points at (stat), its status flags (close-on-exec removed) and position from
 * fdinfo, the objref table, the fds of processes outside the tree that point at the same link, and the
 * descriptions the user declared external (--external).
 */
public record FdContext(int pid, int fd, String link, FileTable.Stat st, int flags, long pos, FileTable table,
                 List<FileTable.Holder> outside, Set<String> external) {
    /** /proc/PID/fd/N: a way to what the fd points at that needs no path. */
    public Path proc() {
        return Path.of("/proc/" + pid + "/fd/" + fd);
    }

    public int fileType() {
        return st.mode() & FileRecord.S_IFMT;
    }

    /**
     * Refuses an anonymous file (an eventfd, epoll, timerfd, signalfd, inotify instance) that a process outside
     * the tree holds too: restart would split it in two. Every such fd links to one shared anonymous inode, so
     * the outside fds with the same link are all of that kind out there: kcmp(2) KCMP_FILE tells which is this one.
     */
    public void refuseIfSharedOutside(String what) throws Refusal {
        for (FileTable.Holder h : outside) {
            boolean same;
            try {
                same = cryo.sys.Proc.sameFile(pid, fd, h.pid(), h.fd());
            } catch (cryo.sys.SysException gone) {
                continue;   // the outside process closed it or exited
            }
            if (same) throw refuse(what + " that task " + h.pid() + " (fd " + h.fd() + ") outside the tree holds too: not supported"
                    + " (restart would give the tree one of its own)");
        }
    }

    /** "task PID: fd N is WHAT". */
    public Refusal refuse(String what) {
        return new Refusal(pid, "fd " + fd + " is " + what);
    }
}
