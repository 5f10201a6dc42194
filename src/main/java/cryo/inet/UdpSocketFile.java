package cryo.inet;

import cryo.files.FdContext;
import cryo.files.FileKind;
import cryo.files.OpenFileRecord;
import cryo.files.RestoreContext;
import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.InetSock;
import cryo.sys.Proc;
import cryo.sys.Sock;
import cryo.sys.SysException;
import cryo.sys.Udp;

import java.io.IOException;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * A UDP socket of the tree (IPv4 or IPv6, net/ipv4/udp.c), both halves. Checkpoint reads it through a
 * duplicate of the task's fd (pidfd_getfd): address, peer, options (UdpOptions) and the datagrams waiting in its
 * receive queue, peeked without consuming them (UdpQueue). Restart creates it in cryo, sets the options, binds
 * and connects it, and puts the datagrams back with their senders (UdpRestore). Written after every fd is met
 * (Checkpoint.write).
 */
public final class UdpSocketFile implements FileKind {
    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.UDP_SOCKET);
    }

    public boolean takes(FdContext c) throws IOException {
        if (!c.link().startsWith("socket:[") || c.external().contains(c.link())) return false;
        if (c.fd() <= 2 && !c.outside().isEmpty()) return false;   // the task's stdio leading outside: InheritedFile's
        try {
            int dup = Proc.pidfdGetfd(c.pid(), c.fd());
            try {
                return isUdp(dup, "task " + c.pid() + " fd " + c.fd());
            } finally {
                Fd.close(dup);
            }
        } catch (SysException e) {
            throw new IOException(e.getMessage());
        }
    }

    static boolean isUdp(int fd, String what) throws SysException {
        int family = Sock.getInt(fd, Sock.SOL_SOCKET, InetSock.SO_DOMAIN, what);
        return (family == InetSock.AF_INET || family == InetSock.AF_INET6)
                && Sock.getInt(fd, Sock.SOL_SOCKET, Sock.SO_TYPE, what) == Udp.SOCK_DGRAM
                && Sock.getInt(fd, Sock.SOL_SOCKET, InetSock.SO_PROTOCOL, what) == InetSock.IPPROTO_UDP;
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        String fdWhat = "task " + c.pid() + " fd " + c.fd();
        int dup;
        try {
            dup = Proc.pidfdGetfd(c.pid(), c.fd());
        } catch (SysException e) {
            throw c.refuse(c.link() + ": " + e.getMessage());
        }
        try {
            int family = Sock.getInt(dup, Sock.SOL_SOCKET, InetSock.SO_DOMAIN, fdWhat);
            InetSock.Endpoint local = InetSock.name(dup, fdWhat), peer = InetSock.peer(dup, fdWhat);
            String what = (family == InetSock.AF_INET6 ? "an IPv6" : "an IPv4") + " UDP socket"
                    + (local.isUnspecified() ? "" : " on " + local) + (peer == null ? "" : " connected to " + peer) + " (" + c.link() + ")";
            if (!c.outside().isEmpty()) {
                throw c.refuse(what + " that task " + c.outside().getFirst().pid() + " (fd " + c.outside().getFirst().fd()
                        + ") outside the tree holds too: not supported (restart would give the tree one of its own)");
            }
            int unsent = Udp.unsent(dup, fdWhat);
            if (unsent > 0) {
                throw c.refuse(what + " with " + unsent + " bytes not sent yet (corked with UDP_CORK or MSG_MORE, or still in a device queue):"
                        + " the kernel gives no way to read them (not supported)");
            }
            if (Udp.filterLength(dup, fdWhat) != 0) throw c.refuse(what + " with a socket filter (SO_ATTACH_FILTER or SO_ATTACH_BPF): not supported");
            List<UdpSocketRecord.Group> groups = new java.util.ArrayList<>();
            for (UdpGroups.Joined j : UdpGroups.joined(dup, family, fdWhat)) {
                if (!j.allSources()) throw c.refuse(what + " that joined multicast group " + j.group() + " with a source filter"
                        + " (IP_ADD_SOURCE_MEMBERSHIP, MCAST_MSFILTER...): not supported");
                groups.add(j.group());
            }
            List<UdpOptions.Value> options = UdpOptions.read(dup, family, fdWhat);
            int fresh = InetSock.socket(family, Udp.SOCK_DGRAM, InetSock.IPPROTO_UDP);
            try {
                options = UdpOptions.changed(options, UdpOptions.read(fresh, family, "a new UDP socket"));
            } finally {
                Fd.close(fresh);
            }
            int objref = c.table().nextObjref();
            int peekOff = Sock.getInt(dup, Sock.SOL_SOCKET, Sock.SO_PEEK_OFF, fdWhat);
            UdpQueue.Peeked q = UdpQueue.peek(dup, family, local, peekOff, fdWhat);
            if (q.lost() > 0) c.table().warn(fdWhat + " (" + c.link() + "): " + q.lost() + " queued datagram(s) of " + q.lostBytes()
                    + " bytes are not kept (" + q.why() + "); UDP may lose datagrams, the program sees them as dropped");
            UdpSocketRecord s = new UdpSocketRecord(objref, inode(c.link()), family, local, peer, peekOff,
                    q.datagrams().size(), q.bytes(), options, List.copyOf(groups));
            dump(c).add(s, q.datagrams().isEmpty() ? null : new UdpQueueRecord(objref, q.datagrams()));
            return new OpenFileRecord(objref, OpenFileRecord.Kind.UDP_SOCKET, 0, 0, c.flags(), 0, 0, c.link());
        } catch (SysException e) {
            throw c.refuse(c.link() + ": " + e.getMessage());
        } finally {
            Fd.close(dup);
        }
    }

    static long inode(String link) {
        return Long.parseLong(link, "socket:[".length(), link.length() - 1, 10);
    }

    /** The UDP records of one checkpoint, in the order their sockets were met. */
    static final class Dump {
        private final List<UdpRecord> records = new java.util.ArrayList<>();

        void add(UdpSocketRecord s, UdpQueueRecord q) {
            records.add(s);
            if (q != null) records.add(q);
        }
    }

    private static Dump dump(FdContext c) {
        return c.table().kindState(Dump.class, Dump::new);
    }

    /** The UDP records of one checkpoint, after every fd is met (Checkpoint.write). */
    public static void write(cryo.files.FileTable files, cryo.image.ImageWriter w) throws IOException {
        for (UdpRecord r : files.kindState(Dump.class, Dump::new).records) w.write(r);
    }

    public Restorer restorer(RestoreContext rc) {
        return new UdpRestore(rc);
    }
}
