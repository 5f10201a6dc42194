package cryo.netlock;

import cryo.sys.InetSock;
import cryo.sys.InetSock.Endpoint;

/**
 * One TCP socket the network lock holds: a listener (remote null), whose address and port get no packet in
 * or out, or a connection, whose packets in both directions are dropped. Addresses are as on the wire: an
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d, an IPv6 socket talking IPv4) is its IPv4 address.
 */
public record LockedSocket(Endpoint local, Endpoint remote) {
    public LockedSocket {
        local = wire(local);
        remote = remote == null ? null : wire(remote);
        if (remote != null && remote.family() != local.family()) {
            throw new IllegalArgumentException("connection " + local + " <-> " + remote + " mixes address families");
        }
    }

    public static LockedSocket listener(Endpoint local) {
        return new LockedSocket(local, null);
    }

    public static LockedSocket connection(Endpoint local, Endpoint remote) {
        return new LockedSocket(local, remote);
    }

    public boolean listening() {
        return remote == null;
    }

    /** The listener's address is the wildcard (0.0.0.0 or ::): every address of the host. */
    public boolean anyAddress() {
        for (byte b : local.addr()) if (b != 0) return false;
        return true;
    }

    /** ::ffff:a.b.c.d as a.b.c.d, flow info and scope dropped: what nft compares. */
    static Endpoint wire(Endpoint e) {
        byte[] a = e.addr();
        if (e.family() == InetSock.AF_INET6) {
            boolean mapped = a[10] == (byte) 0xff && a[11] == (byte) 0xff;
            for (int i = 0; i < 10; i++) mapped &= a[i] == 0;
            if (mapped) return Endpoint.of(InetSock.AF_INET, java.util.Arrays.copyOfRange(a, 12, 16), e.port());
        }
        return Endpoint.of(e.family(), a, e.port());
    }

    @Override
    public String toString() {
        return listening() ? "listen " + local : local + " <-> " + remote;
    }
}
