package cryo.sockets;

import cryo.files.FdContext;
import cryo.files.FileKind;
import cryo.files.OpenFileRecord;
import cryo.files.RestoreContext;
import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.SockDiag;
import cryo.sys.SysException;

import java.io.IOException;
import java.util.EnumSet;
import java.util.Set;

/**
 * A Unix-domain socket (net/unix/af_unix.c), both halves. Checkpoint reads it through NETLINK_SOCK_DIAG and a
 * duplicate of the task's fd (UnixSocketsDump); restart creates it in cryo, connected again, its queue
 * refilled (UnixSocketsRestore). A socket at fds 0-2 connected to a process outside the tree stays the
 * task's connection to the world (inherited from cryo restart, as before); one declared with --external
 * SOCKET:[INODE] is left to InheritedFile.
 */
public final class UnixSocketFile implements FileKind {
    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.UNIX_SOCKET);
    }

    public boolean takes(FdContext c) throws IOException {
        if (!c.link().startsWith("socket:[") || c.external().contains(c.link())) return false;
        try {
            return dump(c).diag(inode(c.link())) != null || (c.fd() > 2 && cryo.ns.Namespace.NET.differsFromCryo(c.pid()));
        } catch (SysException e) {
            throw new IOException(e.getMessage());
        }
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        try {
            if (dump(c).diag(inode(c.link())) == null) {
                // sock_diag answers for cryo's network namespace, where restart would make the socket
                throw c.refuse(cryo.files.SocketKind.describe(c.pid(), inode(c.link())) + " (" + c.link()
                        + ") in a network namespace other than cryo's: not supported");
            }
            return dump(c).checkpoint(c, inode(c.link()));
        } catch (SysException e) {
            throw c.refuse(c.link() + ": " + e.getMessage());
        }
    }

    static long inode(String link) {
        return Long.parseLong(link, "socket:[".length(), link.length() - 1, 10);
    }

    private static UnixSocketsDump dump(FdContext c) {
        return c.table().kindState(UnixSocketsDump.class, () -> new UnixSocketsDump(c.table()));
    }

    /** The socket records of one checkpoint, after every fd is met (Checkpoint.write). */
    public static void write(cryo.files.FileTable files, cryo.image.ImageWriter w) throws IOException {
        files.kindState(UnixSocketsDump.class, () -> new UnixSocketsDump(files)).write(w);
    }

    public Restorer restorer(RestoreContext rc) {
        return new UnixSocketsRestore(rc);
    }

    /**
     * cryo check: what checkpoint reads Unix sockets with works here: a socketpair with a byte queued, a
     * duplicate of one end through pidfd_getfd (of cryo itself; stubPid's fd 0 too), sock_diag of it, and a
     * peek at SO_PEEK_OFF 0 that leaves the byte in place.
     */
    public static void selfCheck(int stubPid) throws Exception {
        int[] sv = cryo.sys.Sock.socketpair(cryo.sys.Sock.AF_UNIX, cryo.sys.Sock.SOCK_STREAM);
        int dup = -1;
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            cryo.sys.Fd.writeFully(sv[0], a.allocateFrom("x"), "socketpair");
            Fd.close(cryo.sys.Proc.pidfdGetfd(stubPid, 0));
            dup = cryo.sys.Proc.pidfdGetfd(cryo.sys.Proc.getpid(), sv[1]);
            long ino = inode(java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/fd/" + dup)).toString());
            SockDiag.Unix u = SockDiag.unix(ino);
            if (u == null || u.peer() == 0 || u.rqueue() != 2) throw new Exception("sock_diag says " + u);
            cryo.sys.Sock.setInt(dup, cryo.sys.Sock.SOL_SOCKET, cryo.sys.Sock.SO_PEEK_OFF, 0, "check");
            for (int i = 0; i < 2; i++) {
                cryo.sys.Sock.Peeked p = cryo.sys.Sock.peek(dup, 16, "check");
                if (i == 0 && (p == null || p.data().length != 2)) throw new Exception("the peek found " + p);
                if (i == 1 && p != null) throw new Exception("the second peek found more");
            }
        } finally {
            if (dup >= 0) Fd.close(dup);
            Fd.close(sv[0]);
            Fd.close(sv[1]);
        }
    }

    /** "a Unix stream socket at /run/x" from what sock_diag tells. */
    static String describe(SockDiag.Unix u) {
        String t = switch (u.type()) {
            case cryo.sys.Sock.SOCK_STREAM -> "stream";
            case cryo.sys.Sock.SOCK_DGRAM -> "datagram";
            default -> "seqpacket";
        };
        return "a " + (u.listening() ? "listening " : "") + "Unix " + t + " socket" + (u.name() != null && u.name().length > 0 ? " at " + u.nameText() : "");
    }
}
