package cryo.netlock;

import cryo.sys.InetSock;
import cryo.sys.InetSock.Endpoint;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The nft script of one lock: a table of cryo's own (family inet: IPv4 and IPv6) whose base chains on the
 * input and output hooks drop, before conntrack and any filter of priority >= -300 sees them, every packet
 * of the locked connections (both directions, matched on the 4-tuple) and every packet to or from a locked
 * listener's address and port. Each direction is dropped on the tree's side only: what comes to the tree at
 * input, what leaves it at output. A client on this host (loopback) then sends as usual and retransmits;
 * dropped at its own output, its send would fail inside its kernel (EPERM from ip_local_out) and sit unsent. The sockets are elements of sets: a lookup per packet, however many.
 * DROP, never REJECT: a peer gets no RST or ICMP, it retransmits; a new client's SYN is retransmitted (after
 * 1 s, then 3 s..., TCP_TIMEOUT_INIT), so it sees a pause, not a refusal.
 */
final class LockRules {
    /** Before conntrack (-200) and the raw tables (-300): nothing else sees the dropped packets. */
    static final int PRIORITY = -350;
    /** The chain whose presence marks a lock held: its image is committed, its tasks are killed. */
    static final String HELD = "held";

    private LockRules() {
    }

    static String script(String table, String comment, List<LockedSocket> sockets) {
        Set<String> in4 = new LinkedHashSet<>(), in6 = new LinkedHashSet<>(), out4 = new LinkedHashSet<>(),
                out6 = new LinkedHashSet<>(), host4 = new LinkedHashSet<>(),
                host6 = new LinkedHashSet<>(), port4 = new LinkedHashSet<>(), port6 = new LinkedHashSet<>();
        for (LockedSocket s : sockets) {
            boolean v4 = s.local().family() == InetSock.AF_INET;
            if (s.listening()) {
                if (s.anyAddress()) (v4 ? port4 : port6).add(Integer.toString(s.local().port()));
                else (v4 ? host4 : host6).add(addr(s.local()) + " . " + s.local().port());
            } else {
                (v4 ? in4 : in6).add(tuple(s.remote(), s.local()));
                (v4 ? out4 : out6).add(tuple(s.local(), s.remote()));
            }
        }
        StringBuilder b = new StringBuilder();
        b.append("table inet ").append(table).append(" {\n");
        b.append("  comment \"").append(comment.replaceAll("[^A-Za-z0-9 .,:()/_-]", "_")).append("\"\n");
        set(b, "in4", "ipv4_addr . inet_service . ipv4_addr . inet_service", in4);
        set(b, "in6", "ipv6_addr . inet_service . ipv6_addr . inet_service", in6);
        set(b, "out4", "ipv4_addr . inet_service . ipv4_addr . inet_service", out4);
        set(b, "out6", "ipv6_addr . inet_service . ipv6_addr . inet_service", out6);
        set(b, "host4", "ipv4_addr . inet_service", host4);
        set(b, "host6", "ipv6_addr . inet_service", host6);
        set(b, "port4", "inet_service", port4);
        set(b, "port6", "inet_service", port6);
        chain(b, "input", "in", "daddr", "dport");
        chain(b, "output", "out", "saddr", "sport");
        return b.append("}\n").toString();
    }

    /**
     * Connections: the packets from the peer at input, to the peer at output (both ends in the tree: each
     * is the other's peer). Listeners: what comes in to their address and port, and what leaves from it (a
     * child still in the accept queue is reset when its listener closes). An IPv6 wildcard listener takes
     * IPv4 too unless IPV6_V6ONLY: both are locked.
     */
    private static void chain(StringBuilder b, String hook, String conn, String addr, String port) {
        b.append("  chain ").append(hook).append(" {\n");
        b.append("    type filter hook ").append(hook).append(" priority ").append(PRIORITY).append("; policy accept;\n");
        b.append("    ip saddr . tcp sport . ip daddr . tcp dport @").append(conn).append("4 drop\n");
        b.append("    ip6 saddr . tcp sport . ip6 daddr . tcp dport @").append(conn).append("6 drop\n");
        b.append("    ip ").append(addr).append(" . tcp ").append(port).append(" @host4 drop\n");
        b.append("    ip6 ").append(addr).append(" . tcp ").append(port).append(" @host6 drop\n");
        b.append("    meta nfproto ipv4 tcp ").append(port).append(" @port4 drop\n");
        b.append("    tcp ").append(port).append(" @port6 drop\n");
        b.append("  }\n");
    }

    private static void set(StringBuilder b, String name, String type, Set<String> elements) {
        b.append("  set ").append(name).append(" {\n    type ").append(type).append("\n");
        if (!elements.isEmpty()) b.append("    elements = { ").append(String.join(",\n      ", elements)).append(" }\n");
        b.append("  }\n");
    }

    private static String tuple(Endpoint from, Endpoint to) {
        return addr(from) + " . " + from.port() + " . " + addr(to) + " . " + to.port();
    }

    /** Numeric, never a name lookup. */
    static String addr(Endpoint e) {
        try {
            return InetAddress.getByAddress(e.addr()).getHostAddress();
        } catch (UnknownHostException x) {
            throw new IllegalArgumentException("address of " + e.addr().length + " bytes", x);
        }
    }
}
