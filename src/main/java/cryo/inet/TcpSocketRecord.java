package cryo.inet;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;
import cryo.sys.InetSock;
import cryo.sys.InetSock.Endpoint;
import cryo.sys.Tcp;

/**
 * TCP_SOCKET: one TCP socket, by the objref of its OPEN_FILE (a socket has one description). state: LISTEN,
 * CLOSE (never connected, bound or not), or a connection: ESTABLISHED, or half closed, FIN_WAIT1/FIN_WAIT2
 * (its FIN sent), CLOSE_WAIT (the peer's received), LAST_ACK/CLOSING (both); local: its address (port 0 and
 * the wildcard when unbound); peer: the connected peer's address, null unless connected (a peer may be on
 * another host: the image names it by address only). backlog: a listener's listen() backlog. shutdown:
 * sk_shutdown (RCV_SHUTDOWN 1, SEND_SHUTDOWN 2; a FIN sent implies SEND_SHUTDOWN, one received RCV_SHUTDOWN). sndbuf/rcvbuf: the buffer sizes, set again only when the flags say the
 * user locked them (SO_SNDBUF/SO_RCVBUF). options: the integer options, each (level << 16 | name) << 32 | value
 * (TcpOptions). A connection has a TCP_STREAM record after it.
 */
public record TcpSocketRecord(int objref, int family, int state, Endpoint local, Endpoint peer, int backlog, int shutdown,
                              int flags, int sndbuf, int rcvbuf, int lingerOnoff, int lingerSecs, String congestion,
                              long[] options) implements TcpRecord {
    /** flags: SO_SNDBUF / SO_RCVBUF set by the user (sk_userlocks), restored with *BUFFORCE. */
    public static final int SNDBUF_LOCKED = 1, RCVBUF_LOCKED = 2;
    static final int RCV_SHUTDOWN = 1, SEND_SHUTDOWN = 2;

    public TcpSocketRecord {
        options = options.clone();
    }

    @Override
    public long[] options() {
        return options.clone();
    }

    public RecordType type() {
        return RecordType.TCP_SOCKET;
    }

    public boolean listening() {
        return state == Tcp.LISTEN;
    }

    /** Connected, maybe half closed: a TCP_STREAM record goes with it. */
    public boolean established() {
        return connected(state);
    }

    static boolean connected(int state) {
        return state == Tcp.ESTABLISHED || finSent(state) || finReceived(state);
    }

    /** Its own FIN was sent (shutdown(SHUT_WR) or close): it takes the last sequence number of the send queue. */
    static boolean finSent(int state) {
        return state == Tcp.FIN_WAIT1 || state == Tcp.FIN_WAIT2 || state == Tcp.LAST_ACK || state == Tcp.CLOSING;
    }

    /** The peer's FIN was received: it took the last sequence number of the receive queue. */
    static boolean finReceived(int state) {
        return state == Tcp.CLOSE_WAIT || state == Tcp.LAST_ACK || state == Tcp.CLOSING;
    }

    /** "TCP socket 7 listening on 127.0.0.1:8080", for messages. */
    public String describe() {
        return "TCP socket " + objref + switch (state) {
            case Tcp.LISTEN -> " listening on " + local;
            case Tcp.CLOSE -> local.port() == 0 ? " (unbound)" : " bound to " + local;
            case Tcp.ESTABLISHED -> " " + local + " -> " + peer;
            default -> " " + local + " -> " + peer + " in " + Tcp.stateName(state);
        };
    }

    public void encode(Encoder e) {
        e.u32(objref).u32(family).u32(state);
        endpoint(e, local);
        endpoint(e, peer);
        e.u32(backlog).u32(shutdown).u32(flags).u32(sndbuf).u32(rcvbuf).u32(lingerOnoff).u32(lingerSecs).str(congestion).longs(options);
    }

    private static void endpoint(Encoder e, Endpoint p) {
        if (p == null) {
            e.bytes(new byte[0]).u32(0).u32(0).u32(0);
            return;
        }
        e.bytes(p.addr()).u32(p.port()).u32(p.flowInfo()).u32(p.scopeId());
    }

    private static Endpoint endpoint(Decoder d, String field, int family, boolean optional) throws ImageException {
        byte[] addr = d.bytes(field + ".addr", 16);
        int port = d.u32(field + ".port", 0, 65535);
        int flow = d.u32(field + ".flowinfo"), scope = d.u32(field + ".scope_id");
        if (addr.length == 0 && optional) {
            if (port != 0 || flow != 0 || scope != 0) throw d.error(field, "has a port, flow or scope but no address");
            return null;
        }
        if (addr.length != (family == InetSock.AF_INET ? 4 : 16)) throw d.error(field + ".addr", "has " + addr.length + " bytes, not an address of family " + family);
        if (family == InetSock.AF_INET && (flow != 0 || scope != 0)) throw d.error(field, "has an IPv6 flow or scope on an IPv4 address");
        return new Endpoint(family, addr, port, flow, scope);
    }

    public static TcpSocketRecord decode(Decoder d) throws ImageException {
        int objref = d.u32("objref", 1, Integer.MAX_VALUE);
        int family = d.u32("family");
        if (family != InetSock.AF_INET && family != InetSock.AF_INET6) throw d.error("family", "is " + family + ", not AF_INET (2) or AF_INET6 (10)");
        int state = d.u32("state");
        if (state != Tcp.LISTEN && state != Tcp.CLOSE && !connected(state)) throw d.error("state", "is " + state + " (" + Tcp.stateName(state) + "), not one cryo restores");
        Endpoint local = endpoint(d, "local", family, false);
        Endpoint peer = endpoint(d, "peer", family, true);
        if (connected(state) != (peer != null)) throw d.error("peer", (peer == null ? "is missing on a socket in " : "is set on a socket in ") + Tcp.stateName(state));
        if (connected(state) && (peer.port() == 0 || local.port() == 0)) throw d.error(peer.port() == 0 ? "peer.port" : "local.port", "is 0 on a connected socket");
        if (state == Tcp.LISTEN && local.port() == 0) throw d.error("local.port", "is 0 on a listening socket");
        int backlog = d.u32("backlog", 0, Integer.MAX_VALUE);
        int shutdown = d.u32("shutdown", 0, connected(state) ? RCV_SHUTDOWN | SEND_SHUTDOWN : 0);
        if (finSent(state) && (shutdown & SEND_SHUTDOWN) == 0) throw d.error("shutdown", "lacks SEND_SHUTDOWN on a socket in " + Tcp.stateName(state));
        if (finReceived(state) && (shutdown & RCV_SHUTDOWN) == 0) throw d.error("shutdown", "lacks RCV_SHUTDOWN on a socket in " + Tcp.stateName(state));
        if (state == Tcp.ESTABLISHED && (shutdown & SEND_SHUTDOWN) != 0) throw d.error("shutdown", "has SEND_SHUTDOWN on an ESTABLISHED socket (its FIN would be sent)");
        int flags = d.u32("flags", 0, SNDBUF_LOCKED | RCVBUF_LOCKED);
        int sndbuf = d.u32("sndbuf", 0, Integer.MAX_VALUE);
        int rcvbuf = d.u32("rcvbuf", 0, Integer.MAX_VALUE);
        int lingerOnoff = d.u32("linger_onoff", 0, 1);
        int lingerSecs = d.u32("linger_secs", 0, Integer.MAX_VALUE);
        String congestion = d.str("congestion");
        if (congestion.length() > 15 || !congestion.matches("[A-Za-z0-9_-]*")) throw d.error("congestion", "'" + congestion + "' is no congestion control name");
        long[] options = d.longs("options", 64);
        for (long o : options) {
            if (TcpOptions.byKey((int) (o >>> 32)) == null) throw d.error("options", "names option " + (o >>> 48) + "/" + ((o >>> 32) & 0xffff) + ", which cryo does not restore");
        }
        return new TcpSocketRecord(objref, family, state, local, peer, backlog, shutdown, flags, sndbuf, rcvbuf, lingerOnoff, lingerSecs, congestion, options);
    }
}
