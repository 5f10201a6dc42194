package cryo.sockets;

import cryo.files.FdContext;
import cryo.files.FileKind;
import cryo.files.OpenFileRecord;
import cryo.files.RestoreContext;
import cryo.image.Refusal;
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
