package cryo.inet;

import cryo.files.FdContext;
import cryo.files.FileKind;
import cryo.files.FileTable;
import cryo.files.OpenFileRecord;
import cryo.files.RestoreContext;
import cryo.image.Image;
import cryo.image.ImageException;
import cryo.image.ImageWriter;
import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.InetSock;
import cryo.sys.Proc;
import cryo.sys.Sock;
import cryo.sys.SysException;

import java.io.IOException;
import java.util.EnumSet;
import java.util.Set;

/**
 * A TCP socket (IPv4 or IPv6) of the tree's own network namespace, both halves: checkpoint reads it through a
 * duplicate of the task's fd (TcpDump; an ESTABLISHED one in repair mode, TcpRepairRead), restart makes it
 * again in cryo (TcpRestore): a listener bound and listening, a connection put back with TCP repair, its
 * queues refilled. A socket held by a process outside the tree too is refused, except at fds 0-2, where it
 * is the task's stdio leading outside (InheritedFile).
 */
public final class TcpSocketFile implements FileKind {
    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.TCP_SOCKET);
    }

    public boolean takes(FdContext c) throws IOException {
        if (!c.link().startsWith("socket:[") || c.external().contains(c.link())) return false;
        if (c.fd() <= 2 && !c.outside().isEmpty()) return false;   // the task's stdio leading outside: InheritedFile's
        int dup = -1;
        try {
            dup = Proc.pidfdGetfd(c.pid(), c.fd());
            return family(dup, c) != 0;
        } catch (SysException e) {
            throw new IOException(e.getMessage());
        } finally {
            if (dup >= 0) Fd.close(dup);
        }
    }

    /** AF_INET or AF_INET6 for a TCP socket, else 0. */
    private static int family(int dup, FdContext c) throws SysException {
        String what = "fd " + c.fd() + " of " + c.pid();
        int domain = Sock.getInt(dup, Sock.SOL_SOCKET, InetSock.SO_DOMAIN, what + " SO_DOMAIN");
        if (domain != InetSock.AF_INET && domain != InetSock.AF_INET6) return 0;
        if (Sock.getInt(dup, Sock.SOL_SOCKET, Sock.SO_TYPE, what + " SO_TYPE") != Sock.SOCK_STREAM) return 0;
        return Sock.getInt(dup, Sock.SOL_SOCKET, InetSock.SO_PROTOCOL, what + " SO_PROTOCOL") == InetSock.IPPROTO_TCP ? domain : 0;
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        int dup = -1;
        try {
            dup = Proc.pidfdGetfd(c.pid(), c.fd());
            return dump(c.table()).checkpoint(c, dup, family(dup, c), inode(c.link()));
        } catch (SysException e) {
            throw c.refuse(c.link() + ": " + e.getMessage());
        } finally {
            if (dup >= 0) Fd.close(dup);
        }
    }

    static long inode(String link) {
        return Long.parseLong(link, "socket:[".length(), link.length() - 1, 10);
    }

    private static TcpDump dump(FileTable t) {
        return t.kindState(TcpDump.class, TcpDump::new);
    }

    /** The TCP records of one checkpoint, after the OPEN_FILE records (Checkpoint.write). */
    public static void write(FileTable files, ImageWriter w) throws IOException {
        dump(files).write(w);
    }

    /**
     * Checkpoint in kill mode, just before the tasks are killed: every ESTABLISHED socket read goes back into
     * repair mode, so that its close sends neither FIN nor RST (tcp_close of a socket in repair mode
     * disconnects it silently) and the peer keeps the connection for restart.
     */
    public static void beforeKill(FileTable files) {
        dump(files).beforeKill();
    }

    /** Restart, before anything is created: the local addresses the image binds are free. */
    public static void preflight(Image image) throws ImageException, SysException {
        TcpPreflight.check(image.tcp());
    }

    /**
     * cryo check: what checkpoint reads TCP sockets with works here: a loopback connection in cryo with three
     * bytes unread, inet_diag of its listener (backlog), and in repair mode TCP_QUEUE_SEQ, SIOCINQ, a peek of
     * the receive queue and TCP_REPAIR_WINDOW; the bytes are still there to read after repair mode is off.
     */
    public static void selfCheck() throws Exception {
        int l = InetSock.socket(InetSock.AF_INET, Sock.SOCK_STREAM, InetSock.IPPROTO_TCP), c = -1, a = -1;
        try {
            InetSock.bind(l, InetSock.Endpoint.of(InetSock.AF_INET, new byte[]{127, 0, 0, 1}, 0), "check");
            Sock.listen(l, 3, "check");
            InetSock.Endpoint at = InetSock.name(l, "check");
            c = InetSock.socket(InetSock.AF_INET, Sock.SOCK_STREAM, InetSock.IPPROTO_TCP);
            InetSock.connect(c, at, "check");
            a = Sock.accept(l, "check");
            if (cryo.sys.Tcp.send(c, new byte[]{1, 2, 3}, 0, "check") != 3) throw new Exception("send took less than 3 bytes");
            long ino = Long.parseLong(java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/fd/" + l)).toString().replaceAll("\\D", ""));
            cryo.sys.Tcp.Diag d = cryo.sys.Tcp.diag(InetSock.AF_INET, 1 << cryo.sys.Tcp.LISTEN).stream().filter(x -> x.inode() == ino).findFirst().orElse(null);
            if (d == null || d.wqueue() != 3) throw new Exception("inet_diag says " + d);
            for (int i = 0; i < 1000 && cryo.sys.Tcp.inq(a, "check") < 3; i++) Thread.sleep(1);
            cryo.sys.Tcp.repair(a, cryo.sys.Tcp.REPAIR_ON, "check");
            try {
                cryo.sys.Tcp.repairQueue(a, cryo.sys.Tcp.RECV_QUEUE, "check");
                cryo.sys.Tcp.queueSeq(a, "check");
                byte[] q = cryo.sys.Tcp.peekQueue(a, cryo.sys.Tcp.inq(a, "check"), "check");
                if (q.length != 3 || q[2] != 3) throw new Exception("the peek found " + q.length + " bytes");
                cryo.sys.Tcp.window(a, "check");
            } finally {
                cryo.sys.Tcp.repair(a, cryo.sys.Tcp.REPAIR_OFF_NO_WP, "check");
            }
            if (cryo.sys.Tcp.inq(a, "check") != 3) throw new Exception("the bytes are gone after repair mode");
        } finally {
            for (int fd : new int[]{a, c, l}) if (fd >= 0) Fd.close(fd);
        }
    }

    public Restorer restorer(RestoreContext rc) {
        return new TcpRestore(rc.image().tcp(), rc);
    }
}
