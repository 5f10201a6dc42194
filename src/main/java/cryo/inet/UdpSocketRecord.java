package cryo.inet;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;
import cryo.sys.InetSock;

import java.util.ArrayList;
import java.util.List;

/**
 * UDP_SOCKET: one UDP socket (objref of its UDP_SOCKET OPEN_FILE). local: its address and port (the wildcard
 * address and port 0 when it was never bound); peer: the address it is connected to, or null. peekOff: its
 * SO_PEEK_OFF (-1: off). queued/queuedBytes: how many datagrams and bytes its UDP_QUEUE holds (0: none is
 * written). options: every option of UdpOptions' table that differs from a new socket's. groups: the multicast
 * groups it joined.
 */
public record UdpSocketRecord(int objref, long inode, int family, InetSock.Endpoint local, InetSock.Endpoint peer,
                              int peekOff, int queued, long queuedBytes, List<UdpOptions.Value> options, List<Group> groups) implements UdpRecord {
    /** A multicast group the socket joined (every source) on interface `device`, joined again on the interface of that name. */
    public record Group(String device, InetSock.Endpoint group) {
        @Override
        public String toString() {
            String a = group.toString();
            return a.substring(0, a.lastIndexOf(':')).replace("[", "").replace("]", "") + " on " + device;
        }
    }

    /** net.core.rmem_max cannot exceed INT_MAX; a queue cannot hold more datagrams than bytes of memory. */
    static final int MAX_QUEUED = 1 << 24, MAX_OPTIONS = 256, MAX_GROUPS = 4096;

    public RecordType type() {
        return RecordType.UDP_SOCKET;
    }

    public void encode(Encoder e) {
        e.u32(objref).u64(inode).u32(family);
        endpoint(e, local);
        e.u32(peer == null ? 0 : 1);
        endpoint(e, peer == null ? InetSock.Endpoint.of(local.family(), new byte[local.addr().length], 0) : peer);
        e.u32(peekOff).u32(queued).u64(queuedBytes).u32(options.size());
        for (UdpOptions.Value v : options) e.u32(v.level()).u32(v.opt()).bytes(v.value());
        e.u32(groups.size());
        for (Group g : groups) {
            e.str(g.device).u32(g.group.family());
            endpoint(e, g.group);
        }
    }

    static void endpoint(Encoder e, InetSock.Endpoint p) {
        e.bytes(p.addr()).u32(p.port()).u32(p.flowInfo()).u32(p.scopeId());
    }

    /** An address of family (AF_INET: 4 bytes, AF_INET6: 16) and a port 0-65535. */
    static InetSock.Endpoint endpoint(Decoder d, String field, int family) throws ImageException {
        byte[] addr = d.bytes(field + ".addr", 16);
        if (addr.length != (family == InetSock.AF_INET ? 4 : 16)) throw d.error(field + ".addr", "has " + addr.length + " bytes, not an " + (family == InetSock.AF_INET ? "IPv4" : "IPv6") + " address");
        int port = d.u32(field + ".port", 0, 65535);
        int flow = d.u32(field + ".flowinfo"), scope = d.u32(field + ".scope_id");
        if (family == InetSock.AF_INET && (flow | scope) != 0) throw d.error(field + ".flowinfo", "is set on an IPv4 address");
        return new InetSock.Endpoint(family, addr, port, flow, scope);
    }

    static int family(Decoder d, String field) throws ImageException {
        int f = d.u32(field);
        if (f != InetSock.AF_INET && f != InetSock.AF_INET6) throw d.error(field, "is " + f + ", not AF_INET (2) or AF_INET6 (10)");
        return f;
    }

    public static UdpSocketRecord decode(Decoder d) throws ImageException {
        int objref = d.u32("objref", 1, Integer.MAX_VALUE);
        long inode = d.u64("inode");
        int family = family(d, "family");
        InetSock.Endpoint local = endpoint(d, "local", family);
        int connected = d.u32("connected", 0, 1);
        InetSock.Endpoint peer = endpoint(d, "peer", family);
        if (connected == 0 && !peer.isUnspecified()) throw d.error("peer", peer + " is set on a socket not connected");
        if (connected == 1 && peer.port() == 0) throw d.error("peer.port", "is 0 on a connected socket");
        if (connected == 1 && local.port() == 0) throw d.error("local.port", "is 0 on a connected socket");
        if (local.port() == 0 && !local.isUnspecified()) throw d.error("local.port", "is 0 with address " + local);
        int peekOff = d.u32("peek_off", -1, Integer.MAX_VALUE);
        int queued = d.u32("queued", 0, MAX_QUEUED);
        long bytes = d.u64("queued_bytes");
        if (bytes < 0 || bytes > (long) queued * cryo.sys.Udp.MAX_PAYLOAD) throw d.error("queued_bytes", "is " + Long.toUnsignedString(bytes) + ", more than " + queued + " datagrams can hold");
        int n = d.u32("options", 0, MAX_OPTIONS);
        List<UdpOptions.Value> options = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int level = d.u32("option.level"), opt = d.u32("option.name");
            UdpOptions.Known k = UdpOptions.find(level, opt);
            if (k == null) throw d.error("option.name", "is level " + level + " option " + opt + ", which cryo does not know");
            if (k.v6() && family != InetSock.AF_INET6) throw d.error("option.name", k.name() + " on an IPv4 socket");
            for (UdpOptions.Value v : options) if (v.level() == level && v.opt() == opt) throw d.error("option.name", k.name() + " appears twice");
            options.add(new UdpOptions.Value(level, opt, d.bytes("option.value", k.room())));
        }
        int g = d.u32("groups", 0, MAX_GROUPS);
        List<Group> groups = new ArrayList<>();
        for (int i = 0; i < g; i++) {
            String dev = d.str("group.device");
            if (dev.isEmpty() || dev.length() > 15 || dev.contains("/") || dev.equals(".") || dev.equals("..")) throw d.error("group.device", "'" + dev + "' is no interface name");
            int gf = family(d, "group.family");
            if (gf == InetSock.AF_INET6 && family != InetSock.AF_INET6) throw d.error("group.family", "is AF_INET6 on an IPv4 socket");
            InetSock.Endpoint a = endpoint(d, "group", gf);
            byte[] b = a.addr();
            if (gf == InetSock.AF_INET ? (b[0] & 0xf0) != 0xe0 : (b[0] & 255) != 0xff) throw d.error("group.addr", a + " is not a multicast address");
            if (a.port() != 0) throw d.error("group.port", "is " + a.port() + ", not 0");
            groups.add(new Group(dev, a));
        }
        return new UdpSocketRecord(objref, inode, family, local, connected == 1 ? peer : null, peekOff, queued, bytes, List.copyOf(options), List.copyOf(groups));
    }

    public String describe() {
        return "UDP socket " + (local.isUnspecified() ? "(unbound)" : "on " + local) + (peer == null ? "" : " connected to " + peer);
    }
}
