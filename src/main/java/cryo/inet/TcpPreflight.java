package cryo.inet;

import cryo.image.ImageException;
import cryo.sys.InetSock;
import cryo.sys.InetSock.Endpoint;
import cryo.sys.SysException;
import cryo.sys.Tcp;

import java.util.ArrayList;
import java.util.List;

/**
 * Restart, before anything is created: no socket of cryo's network namespace holds now an address the image
 * binds: a listener on the port of a listener (or unconnected bound socket) of the image, or a connection with
 * the same pair of addresses as one of its connections (inet_diag; TIME_WAIT left aside: repair mode binds over it).
 */
final class TcpPreflight {
    private TcpPreflight() {
    }

    static void check(TcpImage tcp) throws ImageException, SysException {
        if (tcp.sockets().isEmpty()) return;
        List<Tcp.Diag> now = new ArrayList<>();
        int live = -1 & ~(1 << Tcp.TIME_WAIT);
        for (int family : new int[]{InetSock.AF_INET, InetSock.AF_INET6}) now.addAll(Tcp.diag(family, live));
        for (TcpSocketRecord s : tcp.sockets()) {
            if (s.local().port() == 0) continue;
            for (Tcp.Diag d : now) {
                if (d.local() == null || d.local().port() != s.local().port()) continue;
                if (s.established() && d.remote() != null && d.remote().port() == s.peer().port()
                        && sameHost(d.local(), s.local()) && sameHost(d.remote(), s.peer())) {
                    throw new ImageException(s.describe() + ": a " + Tcp.stateName(d.state()) + " socket (inode " + d.inode() + ") has that connection now");
                }
                if (!s.established() && d.state() == Tcp.LISTEN && overlaps(d.local(), s.local())) {
                    throw new ImageException(s.describe() + ": the address is in use now: a listening socket on " + d.local() + " (inode " + d.inode() + ")");
                }
            }
        }
    }

    /** The 4 bytes of an IPv4 address, also inside an IPv4-mapped IPv6 one (::ffff:a.b.c.d); the address as is otherwise. */
    private static byte[] v4(Endpoint e) {
        byte[] a = e.addr();
        if (a.length == 16) {
            for (int i = 0; i < 10; i++) if (a[i] != 0) return a;
            if (a[10] == -1 && a[11] == -1) return java.util.Arrays.copyOfRange(a, 12, 16);
        }
        return a;
    }

    private static boolean sameHost(Endpoint a, Endpoint b) {
        return java.util.Arrays.equals(v4(a), v4(b));
    }

    private static boolean wildcard(Endpoint e) {
        for (byte b : e.addr()) if (b != 0) return false;
        return true;
    }

    private static boolean overlaps(Endpoint a, Endpoint b) {
        return wildcard(a) || wildcard(b) || sameHost(a, b);
    }
}
