package cryo.inet;

import cryo.files.FileKind;
import cryo.files.OpenFileRecord;
import cryo.files.RestoreContext;
import cryo.sys.Fd;
import cryo.sys.InetSock;
import cryo.sys.Sock;
import cryo.sys.SysException;
import cryo.sys.Udp;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Restart's half of UDP sockets: each is created in cryo with its options, bound, refilled with its queued
 * datagrams (before connect: a connected socket takes datagrams from its peer only, and those queued before the
 * connect may come from others), connected, and given its peek offset and status flags.
 * <p>
 * A connected socket whose address the kernel picked at connect (ip4_datagram_connect takes the route's
 * source) is bound to the wildcard address with its port, then connected: connect picks the same address
 * again when the route is the same. If the route's source differs from the address recorded, the program
 * had bound that address itself, and so does restart.
 */
final class UdpRestore implements FileKind.Restorer {
    private final UdpImage image;
    private final Map<Integer, Integer> fds = new HashMap<>();
    /** Raw sockets that send queued datagrams, by family. */
    private final Map<Integer, Integer> raw = new HashMap<>();

    UdpRestore(RestoreContext rc) {
        this.image = rc.image().udp();
    }

    public int open(OpenFileRecord d) throws SysException {
        Integer have = fds.get(d.objref());
        if (have != null) return have;
        UdpSocketRecord s = image.socket(d.objref());
        String what = "restored UDP socket " + s.objref() + " (" + s.describe() + ")";
        int fd = InetSock.socket(s.family(), Udp.SOCK_DGRAM, InetSock.IPPROTO_UDP);
        fds.put(s.objref(), fd);
        UdpOptions.apply(fd, s.family(), s.options(), what);
        if (s.peer() != null) {
            InetSock.bind(fd, routeSource(s).equals(Arrays.toString(s.local().addr())) ? wildcard(s.local()) : s.local(), what);
        } else if (!s.local().isUnspecified()) {
            InetSock.bind(fd, s.local(), what);
        }
        for (UdpSocketRecord.Group g : s.groups()) Udp.joinGroup(fd, UdpGroups.ifindex(g.device()), g.group(), what);
        UdpQueueRecord q = image.queue(s.objref());
        if (q != null) UdpQueue.refill(fd, q, this::raw, what);
        if (s.peer() != null) InetSock.connect(fd, s.peer(), what);
        InetSock.Endpoint local = InetSock.name(fd, what);
        if (!s.local().isUnspecified() && (local == null || local.port() != s.local().port() || !Arrays.equals(local.addr(), s.local().addr()))) {
            throw new SysException("getsockname(" + what + "): it is on " + local + " after bind and connect", cryo.sys.Errno.EINVAL);
        }
        if (s.peekOff() != -1) Sock.setInt(fd, Sock.SOL_SOCKET, Sock.SO_PEEK_OFF, s.peekOff(), what);
        Fd.fcntl(fd, Fd.F_SETFL, d.flags());
        return fd;
    }

    /** The address connect would pick for s's peer (the route's source), as Arrays.toString of its bytes. */
    private static String routeSource(UdpSocketRecord s) throws SysException {
        int probe = InetSock.socket(s.family(), Udp.SOCK_DGRAM, InetSock.IPPROTO_UDP);
        try {
            InetSock.connect(probe, s.peer(), "a probe of the route to " + s.peer());
            InetSock.Endpoint e = InetSock.name(probe, "a probe of the route to " + s.peer());
            return e == null ? "" : Arrays.toString(e.addr());
        } finally {
            Fd.close(probe);
        }
    }

    private static InetSock.Endpoint wildcard(InetSock.Endpoint e) {
        return InetSock.Endpoint.of(e.family(), new byte[e.family() == InetSock.AF_INET ? 4 : 16], e.port());
    }

    private int raw(int family) throws SysException {
        Integer fd = raw.get(family);
        if (fd == null) raw.put(family, fd = Udp.rawSocket(family));
        return fd;
    }

    public void close() {
        for (int fd : fds.values()) Fd.close(fd);
        fds.clear();
        for (int fd : raw.values()) Fd.close(fd);
        raw.clear();
    }
}
