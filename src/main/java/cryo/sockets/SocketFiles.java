package cryo.sockets;

import cryo.ns.Root;
import cryo.sys.Errno;
import cryo.sys.Fd;
import cryo.sys.Sock;
import cryo.sys.SysException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Map;

/**
 * The socket file a bind to a path makes (unix(7)): recreated at restart under the image's root, a stale one
 * left by the killed tree replaced, its mode and owner as they were.
 */
final class SocketFiles {
    private SocketFiles() {
    }

    /**
     * Binds fd to s's path. The address a socket gets is the bytes given to bind(2) (getsockname and the
     * peer's accept show them), so the bind uses the image's path as it is, resolved where the tree sees it:
     * for a tree under another root (a container's mount namespace) on a thread of cryo that entered that
     * mount namespace (setns(2) needs the thread's own fs_struct: unshare(CLONE_FS) first; it then has the
     * namespace's root and cwd). A socket file already there is stale when nothing accepts a connection on
     * it (ECONNREFUSED): it is removed; a live one is an error.
     */
    static void bind(int fd, UnixSocketRecord s, Root root) throws SysException {
        if (root.pid() == 0) {
            bindHere(fd, s);
            return;
        }
        java.util.concurrent.FutureTask<Void> task = new java.util.concurrent.FutureTask<>(() -> {
            cryo.sys.Proc.unshare(CLONE_FS);
            int ns = Fd.open("/proc/" + root.pid() + "/ns/mnt", Fd.O_RDONLY);
            try {
                cryo.sys.Proc.setns(ns, cryo.ns.Namespace.MNT.cloneFlag);
            } finally {
                Fd.close(ns);
            }
            bindHere(fd, s);
            return null;
        });
        Thread t = Thread.ofPlatform().name("cryo-bind-in-mnt-ns").start(task);
        try {
            task.get();
            t.join();
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof SysException x) throw x;
            throw new SysException("bind(" + s.describe() + "): " + e.getCause(), Errno.EIO);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SysException("bind(" + s.describe() + "): interrupted", Errno.EINTR);
        }
    }

    private static final int CLONE_FS = 0x200;

    private static void bindHere(int fd, UnixSocketRecord s) throws SysException {
        String path = cryo.sys.SockDiag.nameText(s.name());
        Path full = Path.of(path);
        removeStale(full, s.name(), s);
        Sock.bind(fd, s.name(), s.describe());
        if (s.fileMode() == 0) {
            try {
                Files.delete(full);   // the file was gone at checkpoint
            } catch (IOException e) {
                throw new SysException("unlink(" + full + "): " + e.getMessage(), Errno.EIO);
            }
        } else {
            cryo.sys.Fs.chmod(path, s.fileMode());
            cryo.sys.Fs.lchown(path, s.fileUid(), s.fileGid());
        }
    }

    private static void removeStale(Path full, byte[] via, UnixSocketRecord s) throws SysException {
        Map<String, Object> a;
        try {
            a = Files.readAttributes(full, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            return;   // no file: bind makes it
        }
        if (((Integer) a.get("mode") & 0170000) != 0140000) throw new SysException("bind(" + s.describe() + "): " + full + " exists and is no socket", Errno.EEXIST);
        int probe = Sock.socket(Sock.AF_UNIX, s.sockType());
        try {
            Sock.connect(probe, via, "probe of " + full);
            throw new SysException("bind(" + s.describe() + "): another process listens on " + full, Sock.EADDRINUSE);
        } catch (SysException e) {
            if (e.errno() != Sock.ECONNREFUSED && e.errno() != Errno.EAGAIN) throw e;
        } finally {
            Fd.close(probe);
        }
        try {
            Files.delete(full);
        } catch (IOException e) {
            throw new SysException("unlink(" + full + ", a stale socket file): " + e.getMessage(), Errno.EIO);
        }
    }
}
