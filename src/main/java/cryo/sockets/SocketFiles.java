package cryo.sockets;

import cryo.ns.Root;
import cryo.sys.Errno;
import cryo.sys.Fd;
import cryo.sys.Sock;
import cryo.sys.SysException;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;

/**
 * The socket files of one restart (unix(7)): every call that names a socket by its path (bind, connect,
 * sendto) runs on one thread of cryo that sees the tree's mounts, so a path means what it meant to the tree.
 * A socket file already at a path is replaced when stale; a live one fails the restart. A file that was gone
 * at checkpoint (unlinked after bind) is made by the bind and kept until every connect and send to it is
 * done, then removed again (unlinkGone).
 */
final class SocketFiles implements AutoCloseable {
    private static final int CLONE_FS = 0x200;

    /** The tree's root: known once its init exists (a container's), so asked at each call. */
    private final Supplier<Root> root;
    private ExecutorService thread;
    /** Paths (as the tree sees them) of files gone at checkpoint: removed by unlinkGone. */
    private final List<String> gone = new ArrayList<>();

    SocketFiles(Supplier<Root> root) {
        this.root = root;
    }

    private interface Call<T> {
        T run() throws SysException;
    }

    /**
     * Runs call where the tree's paths resolve: for a tree under another root (a container's mount namespace)
     * on a thread that entered that mount namespace (setns(2) needs the thread's own fs_struct: unshare(CLONE_FS)
     * first; it then has the namespace's root and cwd).
     */
    private <T> T where(String what, Call<T> call) throws SysException {
        int pid = root.get().pid();
        if (pid == 0) return call.run();
        if (thread == null) {
            thread = Executors.newSingleThreadExecutor(Thread.ofPlatform().name("cryo-socket-paths").daemon(true).factory());
            run("setns(/proc/" + pid + "/ns/mnt)", () -> {
                cryo.sys.Proc.unshare(CLONE_FS);
                int ns = Fd.open("/proc/" + pid + "/ns/mnt", Fd.O_RDONLY);
                try {
                    cryo.sys.Proc.setns(ns, cryo.ns.Namespace.MNT.cloneFlag);
                } finally {
                    Fd.close(ns);
                }
                return null;
            });
        }
        return run(what, call);
    }

    private <T> T run(String what, Call<T> call) throws SysException {
        try {
            return thread.submit(call::run).get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof SysException x) throw x;
            throw new SysException(what + ": " + e.getCause(), Errno.EIO);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SysException(what + ": interrupted", Errno.EINTR);
        }
    }

    /**
     * Binds fd to s's path. The address a socket gets is the bytes given to bind(2) (getsockname and the
     * peer's accept show them), so the bind uses the image's path as it is, resolved where the tree sees it.
     */
    void bind(int fd, UnixSocketRecord s) throws SysException {
        where("bind(" + s.describe() + ")", () -> {
            bindHere(fd, s);
            return null;
        });
    }

    /** connect(2) of fd to name (a path where the tree sees it, or an abstract name). */
    void connect(int fd, byte[] name, String what) throws SysException {
        where("connect(" + what + ")", () -> {
            Sock.connect(fd, name, what);
            return null;
        });
    }

    /** sendmsg(2) from fd, to name when not null (see Sock.send). */
    long send(int fd, MemorySegment data, byte[] to, Sock.Ucred creds, String what) throws SysException {
        if (to == null || to.length == 0 || to[0] == 0) return Sock.send(fd, data, to, creds, what);
        return where("sendmsg(" + what + ")", () -> Sock.send(fd, data, to, creds, what));
    }

    /** Removes the files that were gone at checkpoint, once nothing connects or sends to them any more. */
    void unlinkGone() throws SysException {
        for (String path : gone) {
            where("unlink(" + path + ")", () -> {
                try {
                    Files.delete(Path.of(path));
                } catch (IOException e) {
                    throw new SysException("unlink(" + path + "): " + e.getMessage(), Errno.EIO);
                }
                cryo.janitor.Journal.gone(path);
                return null;
            });
        }
        gone.clear();
    }

    public void close() {
        if (thread != null) thread.shutdownNow();
        thread = null;
    }

    private static void journal(String path, boolean made) throws SysException {
        try {
            if (made) cryo.janitor.Journal.made(path);
            else cryo.janitor.Journal.intent(path);
        } catch (IOException x) {
            throw new SysException("journal of " + path + ": " + x.getMessage(), Errno.EIO);
        }
    }

    private void bindHere(int fd, UnixSocketRecord s) throws SysException {
        String path = cryo.sys.SockDiag.nameText(s.name());
        Path full = Path.of(path);
        removeStale(full, s.name(), s);
        // a file that was gone at checkpoint exists from the bind to unlinkGone: journaled (cryo.janitor) when
        // it is on cryo's own paths (a container's goes with its mount namespace)
        boolean journaled = s.fileMode() == 0 && root.get().pid() == 0;
        if (journaled) journal(path, false);
        Sock.bind(fd, s.name(), s.describe());
        if (journaled) journal(path, true);
        if (s.fileMode() == 0) {
            gone.add(path);   // the file was gone at checkpoint
        } else {
            cryo.sys.Fs.chmod(path, s.fileMode());
            cryo.sys.Fs.lchown(path, s.fileUid(), s.fileGid());
        }
    }

    /**
     * A socket file already at full is stale when nothing accepts a connection on it (ECONNREFUSED): it is
     * removed. The probe does not block: a live listener with a full accept queue answers EAGAIN
     * (af_unix.c unix_wait_for_peer), which is as live as a connect that succeeds.
     */
    private static void removeStale(Path full, byte[] via, UnixSocketRecord s) throws SysException {
        Map<String, Object> a;
        try {
            a = Files.readAttributes(full, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            return;   // no file: bind makes it
        }
        if (((Integer) a.get("mode") & 0170000) != 0140000) throw new SysException("bind(" + s.describe() + "): " + full + " exists and is no socket", Errno.EEXIST);
        int probe = Sock.socket(Sock.AF_UNIX, s.sockType() | Sock.SOCK_NONBLOCK);
        try {
            Sock.connect(probe, via, "probe of " + full);
            throw new SysException("bind(" + s.describe() + "): another process listens on " + full, Sock.EADDRINUSE);
        } catch (SysException e) {
            if (e.errno() == Errno.EAGAIN) throw new SysException("bind(" + s.describe() + "): another process listens on " + full, Sock.EADDRINUSE);
            if (e.errno() != Sock.ECONNREFUSED) throw e;
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
