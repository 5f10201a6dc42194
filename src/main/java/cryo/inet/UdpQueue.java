package cryo.inet;

import cryo.sys.InetSock;
import cryo.sys.Sock;
import cryo.sys.SysException;
import cryo.sys.Udp;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The receive queue of a UDP socket. Checkpoint peeks at every datagram without consuming it (SO_PEEK_OFF from 0
 * with MSG_PEEK: udp_recvmsg moves the offset past each one) with the control messages that say where it was
 * sent and its TOS and TTL turned on for the moment; the socket's options and peek offset are put back as they
 * were. Restart sends each datagram again, in order, from its own sender's address through a raw socket, so
 * the program reads the same data from the same source (UdpRestore).
 */
final class UdpQueue {
    private UdpQueue() {
    }

    /** The ifindex of the loopback device, the first in every network namespace (net/core/dev.c): where restart's datagrams come in. */
    private static final int LOOPBACK_IFINDEX = 1;
    private static final int SO_REUSEPORT = 15;

    /** The datagrams kept, and how many (and their bytes) are not, and why. */
    record Peeked(List<UdpQueueRecord.Datagram> datagrams, int lost, long lostBytes, String why) {
        long bytes() {
            long n = 0;
            for (UdpQueueRecord.Datagram d : datagrams) n += d.data().length;
            return n;
        }
    }

    /** Options that make recvmsg tell a datagram's destination, TOS/traffic class and TTL/hop limit: {level, name}. */
    private static final int[][] TELL_V4 = {{InetSock.SOL_IP, Udp.IP_PKTINFO}, {InetSock.SOL_IP, Udp.IP_RECVTOS}, {InetSock.SOL_IP, Udp.IP_RECVTTL}};
    private static final int[][] TELL_V6 = {{InetSock.SOL_IPV6, Udp.IPV6_RECVPKTINFO}, {InetSock.SOL_IPV6, Udp.IPV6_RECVTCLASS}, {InetSock.SOL_IPV6, Udp.IPV6_RECVHOPLIMIT}};

    static Peeked peek(int fd, int family, InetSock.Endpoint local, int peekOff, String what) throws SysException {
        int[][] tell = family == InetSock.AF_INET ? TELL_V4 : concat(TELL_V4, TELL_V6);
        int[] was = new int[tell.length];
        for (int i = 0; i < tell.length; i++) was[i] = Sock.getInt(fd, tell[i][0], tell[i][1], what);
        boolean reuseport = Sock.getInt(fd, Sock.SOL_SOCKET, SO_REUSEPORT, what) != 0;
        List<UdpQueueRecord.Datagram> kept = new ArrayList<>();
        int lost = 0;
        long lostBytes = 0;
        String why = null;
        try {
            for (int[] t : tell) Sock.setInt(fd, t[0], t[1], 1, what);
            Sock.setInt(fd, Sock.SOL_SOCKET, Sock.SO_PEEK_OFF, 0, what);
            for (int n = 0; n < UdpSocketRecord.MAX_QUEUED; n++) {
                Udp.Datagram d = Udp.peek(fd, what);
                if (d == null) break;
                InetSock.Endpoint from = unmapped(d.from());
                byte[] to = unmappedAddr(d.to().length > 0 ? d.to() : loopbackIfAny(local.addr()));
                boolean v4 = to.length == 4;
                // the program reads the arrival interface (IP_PKTINFO / IPV6_RECVPKTINFO on): restart's come in on lo
                boolean tellsInterface = v4 ? was[0] != 0 : was[3] != 0;
                String cannot = null;
                if (from == null || from.family() != (v4 ? InetSock.AF_INET : InetSock.AF_INET6)) cannot = "a sender cryo cannot name";
                else if (multicast(to)) cannot = "sent to a multicast or broadcast address";
                else if (tellsInterface && d.ifindex() != 0 && d.ifindex() != LOOPBACK_IFINDEX) cannot = "came in on an interface other than lo, which the program reads";
                else if (reuseport) cannot = "the socket shares its port (SO_REUSEPORT), so restart cannot say which socket of the group receives them";
                if (cannot != null) {
                    lost++;
                    lostBytes += d.data().length;
                    if (why == null) why = cannot;
                    continue;
                }
                int scope = !v4 && (to[0] & 255) == 0xfe && (to[1] & 0xc0) == 0x80 ? d.ifindex() : 0;   // link-local: its interface
                InetSock.Endpoint dst = new InetSock.Endpoint(from.family(), to, local.port(), 0, scope);
                kept.add(new UdpQueueRecord.Datagram(from, dst, d.tos(), d.ttl(), d.data()));
            }
        } finally {
            Sock.setInt(fd, Sock.SOL_SOCKET, Sock.SO_PEEK_OFF, peekOff, what);
            for (int i = 0; i < tell.length; i++) Sock.setInt(fd, tell[i][0], tell[i][1], was[i], what);
        }
        return new Peeked(List.copyOf(kept), lost, lostBytes, why);
    }

    /** A raw socket of a family (Udp.rawSocket), made once. */
    interface RawSockets {
        int of(int family) throws SysException;
    }

    /** Sends q's datagrams again to the socket fd, in order, and waits until all are in its queue. */
    static void refill(int fd, UdpQueueRecord q, RawSockets rawSocket, String what) throws SysException {
        int rcvbuf = Sock.getInt(fd, Sock.SOL_SOCKET, Sock.SO_RCVBUF, what);
        // room for all at once: a datagram's memory (skb truesize) on lo need not be what it was where it came in
        long room = q.bytes() + 4096L * q.datagrams().size();
        if (room > rcvbuf / 2) Sock.setInt(fd, Sock.SOL_SOCKET, Sock.SO_RCVBUFFORCE, (int) Math.min(room, Integer.MAX_VALUE / 2), what);
        for (UdpQueueRecord.Datagram d : q.datagrams()) {
            local(d.to(), what);
            Udp.inject(rawSocket.of(d.to().family()), d.from(), d.to(), d.tos(), d.ttl(), d.data(), what);
        }
        // loopback delivers in a softirq, most often before sendmsg returns, not always (ksoftirqd)
        long deadline = System.nanoTime() + 5_000_000_000L;
        int have;
        while ((have = count(fd, what)) < q.datagrams().size() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        // more than were sent is a live sender's traffic: the port is reachable from the moment it is bound, and
        // those datagrams may fall between the saved ones, as they could have before (UDP orders nothing across senders)
        if (have < q.datagrams().size()) {
            throw new SysException("sendmsg(" + what + "): " + have + " of the " + q.datagrams().size() + " queued datagrams arrived (another socket bound to the same port took them?)", cryo.sys.Errno.EIO);
        }
        if (room > rcvbuf / 2) Sock.setInt(fd, Sock.SOL_SOCKET, Sock.SO_RCVBUFFORCE, rcvbuf / 2, what);
    }

    /**
     * Fails unless `to` is an address of this host (of the tree's network namespace): a bind to it succeeds only
     * then. The raw socket would send a datagram to any address; an image must not make cryo send one elsewhere.
     */
    private static void local(InetSock.Endpoint to, String what) throws SysException {
        int probe = InetSock.socket(to.family(), Udp.SOCK_DGRAM, InetSock.IPPROTO_UDP);
        try {
            InetSock.bind(probe, new InetSock.Endpoint(to.family(), to.addr(), 0, 0, to.scopeId()), what + ": a queued datagram's destination");
        } finally {
            cryo.sys.Fd.close(probe);
        }
    }

    /** The datagrams queued on fd, counted by peeking (SO_PEEK_OFF left off, as a new socket has it). */
    private static int count(int fd, String what) throws SysException {
        Sock.setInt(fd, Sock.SOL_SOCKET, Sock.SO_PEEK_OFF, 0, what);
        try {
            int n = 0;
            while (Udp.peek(fd, what) != null) n++;
            return n;
        } finally {
            Sock.setInt(fd, Sock.SOL_SOCKET, Sock.SO_PEEK_OFF, -1, what);
        }
    }

    private static int[][] concat(int[][] a, int[][] b) {
        int[][] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    /** An IPv4 sender as an IPv6 socket sees it (::ffff:a.b.c.d) back to IPv4: it came in as IPv4. */
    private static InetSock.Endpoint unmapped(InetSock.Endpoint e) {
        if (e == null || e.family() == InetSock.AF_INET || !mapped(e.addr())) return e;
        return InetSock.Endpoint.of(InetSock.AF_INET, Arrays.copyOfRange(e.addr(), 12, 16), e.port());
    }

    private static byte[] unmappedAddr(byte[] a) {
        return a.length == 16 && mapped(a) ? Arrays.copyOfRange(a, 12, 16) : a;
    }

    private static boolean mapped(byte[] a) {
        for (int i = 0; i < 10; i++) if (a[i] != 0) return false;
        return a[10] == (byte) 0xff && a[11] == (byte) 0xff;
    }

    /** The socket's address, or the loopback address of its family if it is the wildcard (a datagram with no destination told). */
    private static byte[] loopbackIfAny(byte[] local) {
        for (byte b : local) if (b != 0) return local;
        byte[] l = new byte[local.length];
        if (l.length == 4) l[0] = 127;
        l[l.length - 1] = 1;
        return l;
    }

    private static boolean multicast(byte[] a) {
        if (a.length == 16) return (a[0] & 255) == 0xff;
        return (a[0] & 0xf0) == 0xe0 || Arrays.equals(a, new byte[]{-1, -1, -1, -1});
    }
}
