package cryo.task;

import cryo.image.Refusal;
import cryo.remote.Tracee;
import cryo.sys.Errno;
import cryo.sys.Fd;
import cryo.sys.FileIo;
import cryo.sys.Fs;
import cryo.sys.Nr;
import cryo.sys.SysException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * A current directory that was removed while the process stayed in it (rmdir(2) of its cwd: /proc/PID/cwd
 * reads "PATH (deleted)", no link left). Checkpoint records its path, mode, owner and times; restart makes
 * an empty directory there like it, has the task chdir into it and removes it at once, so the task is again
 * in a deleted directory (where getcwd(2) fails with ENOENT and nothing can be created). Each task gets a
 * directory of its own: tasks that shared one deleted cwd no longer share its inode.
 */
public final class DeletedCwd {
    private static final String DELETED = " (deleted)";

    private DeletedCwd() {
    }

    /**
     * A removed root directory comes back only when it is also the task's cwd (chroot(2), chdir("/"), then
     * the directory removed from outside): one directory is made for both. Otherwise refused.
     */
    public static void checkRoot(int pid) throws Refusal, IOException {
        Path root = Path.of("/proc/" + pid + "/root");
        String link = Files.readSymbolicLink(root).toString();
        boolean removed = rootRemoved(pid);
        if (removed && !Files.isSameFile(root, Path.of("/proc/" + pid + "/cwd"))) {
            throw new Refusal(pid, "its root directory " + link + " was removed and its cwd is another directory: not supported");
        }
        // A root that still exists and is not cryo's (a chroot) is not restored: it would come back as cryo's.
        // The root of a mount namespace of its own (a container's, "/" seen from it) is: cryo.mounts makes it again.
        if (!removed && !Files.isSameFile(root, Path.of("/proc/self/root")) && !(link.equals("/") && cryo.mounts.Mounts.ownNamespace(pid))) {
            throw new Refusal(pid, "its root directory is " + link + " (chroot), not cryo's: not supported yet");
        }
    }

    /** True when the root directory of pid was removed (its link reads "PATH (deleted)", no link left). */
    public static boolean rootRemoved(int pid) throws IOException {
        Path root = Path.of("/proc/" + pid + "/root");
        return Files.readSymbolicLink(root).toString().endsWith(DELETED) && nlink(root) == 0;
    }

    /** The DELETED_CWD record of process pid whose cwd link reads cwd; null when its cwd was not removed. */
    public static DeletedCwdRecord checkpoint(int pid, String cwd) throws IOException {
        Path proc = Path.of("/proc/" + pid + "/cwd");
        if (!cwd.endsWith(DELETED) || nlink(proc) != 0) return null;
        Map<String, Object> a = Files.readAttributes(proc, "unix:mode,uid,gid,lastAccessTime,lastModifiedTime");
        return new DeletedCwdRecord(pid, (Integer) a.get("mode"), (Integer) a.get("uid"), (Integer) a.get("gid"),
                ((FileTime) a.get("lastAccessTime")).to(TimeUnit.NANOSECONDS), ((FileTime) a.get("lastModifiedTime")).to(TimeUnit.NANOSECONDS),
                cwd.substring(0, cwd.length() - DELETED.length()));
    }

    private static int nlink(Path p) throws IOException {
        return (Integer) Files.getAttribute(p, "unix:nlink");
    }

    /**
     * Makes the directory (at its old path, or at a temporary name beside it if that path is taken again),
     * enters it in t (and chroots t into it when root: t still has its privileges, credentials drop last)
     * and removes it; nothing is left on disk whether or not this succeeds. paths: where cryo finds the
     * task's paths (a container's root).
     */
    public static void enter(Tracee t, DeletedCwdRecord r, boolean root, cryo.ns.Root paths, Consumer<String> warn) throws SysException {
        String path = r.path();
        for (int i = 0; ; i++) {
            try {
                Fs.mkdir(paths.path(path), 0700);
                break;
            } catch (SysException e) {
                if (e.errno() != Errno.EEXIST || i == 20) throw new SysException("mkdir(" + path + "), recreating the deleted cwd of task " + r.pid(), e.errno());
                path = r.path() + ".cryo-" + Long.toHexString(System.nanoTime());
            }
        }
        if (!path.equals(r.path())) warn.accept("task " + r.pid() + ": its deleted cwd " + r.path() + " is taken again: it is back as " + path + DELETED);
        try {
            int fd = Fd.open(paths.path(path), Fd.O_RDONLY | Fd.O_DIRECTORY | Fd.O_NOFOLLOW);
            try {
                FileIo.fchown(fd, r.uid(), r.gid(), path);      // first: chown(2) clears set-group-ID
                FileIo.fchmod(fd, r.mode() & 07777, path);
                FileIo.futimens(fd, r.atimeNanos(), r.mtimeNanos(), path);
            } finally {
                Fd.close(fd);
            }
            t.syscall("chdir(" + path + ")", Nr.CHDIR, t.putString(0, path));
            if (root) t.syscall("chroot(" + path + ")", Nr.CHROOT, t.putString(0, "."));
        } finally {
            Fs.rmdir(paths.path(path));
        }
    }
}
