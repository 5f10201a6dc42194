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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/**
 * The sockets cryo refuses, by name: raw and ping sockets, UDP-Lite and other inet protocols, packet and netlink
 * sockets and every other family (socket(2)). What the socket is comes from SO_DOMAIN, SO_TYPE and SO_PROTOCOL
 * of a duplicate of the task's fd. TCP sockets and Unix sockets are left to their own kinds.
 */
public final class UnsupportedSocketFile implements FileKind {
    private static final int AF_NETLINK = 16, AF_PACKET = 17, SOCK_STREAM = 1;
    private static final int IPPROTO_TCP = 6;

    public Set<OpenFileRecord.Kind> kinds() {
        return Set.of();
    }

    public boolean takes(FdContext c) throws IOException {
        if (!c.link().startsWith("socket:[") || c.external().contains(c.link())) return false;
        if (c.fd() <= 2 && !c.outside().isEmpty()) return false;   // the task's stdio leading outside: InheritedFile's
        Kind k = kind(c);
        if (k == null || k.family == Sock.AF_UNIX) return false;
        boolean inet = k.family == InetSock.AF_INET || k.family == InetSock.AF_INET6;
        return !inet || !(k.type == SOCK_STREAM && k.protocol == IPPROTO_TCP) && !(k.type == Udp.SOCK_DGRAM && k.protocol == InetSock.IPPROTO_UDP);
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        Kind k = kind(c);
        long ino = UdpSocketFile.inode(c.link());
        if (k != null && k.family == AF_PACKET && k.protocol == 0) k = new Kind(k.family, k.type, packetProtocol(c.pid(), ino));
        String what = k == null ? cryo.files.SocketKind.describe(c.pid(), ino) : k.describe();
        throw new Refusal("task " + c.pid() + " (" + comm(c.pid()) + "): fd " + c.fd() + " is " + what + " (" + c.link() + "): not supported");
    }

    public Restorer restorer(RestoreContext rc) {
        return new Restorer() {
            public int open(OpenFileRecord d) {
                throw new IllegalStateException("no OPEN_FILE kind is an unsupported socket");
            }

            public void close() {
            }
        };
    }

    /** SO_DOMAIN, SO_TYPE and SO_PROTOCOL of a socket. */
    record Kind(int family, int type, int protocol) {
        String describe() {
            String v = family == InetSock.AF_INET ? "IPv4" : "IPv6";
            return switch (family) {
                case AF_NETLINK -> "a netlink socket (" + netlink(protocol) + ")";
                case AF_PACKET -> "a packet socket (" + (type == Udp.SOCK_RAW ? "SOCK_RAW" : "SOCK_DGRAM") + ", " + ethertype(protocol) + ")";
                case InetSock.AF_INET, InetSock.AF_INET6 -> {
                    if (type == Udp.SOCK_RAW) yield "a raw " + v + " socket (" + ipProto(protocol) + ")";
                    if (type == Udp.SOCK_DGRAM && (protocol == Udp.IPPROTO_ICMP || protocol == Udp.IPPROTO_ICMPV6)) yield "an " + v + " ping socket (SOCK_DGRAM, " + ipProto(protocol) + ")";
                    if (protocol == Udp.IPPROTO_UDPLITE) yield "an " + v + " UDP-Lite socket (IPPROTO_UDPLITE)";
                    yield "an " + v + " socket of type " + type + " (" + ipProto(protocol) + ")";
                }
                default -> "an " + familyName(family) + " socket (type " + type + ", protocol " + protocol + ")";
            };
        }
    }

    private static Kind kind(FdContext c) {
        try {
            int dup = Proc.pidfdGetfd(c.pid(), c.fd());
            try {
                String what = "task " + c.pid() + " fd " + c.fd();
                return new Kind(Sock.getInt(dup, Sock.SOL_SOCKET, InetSock.SO_DOMAIN, what), Sock.getInt(dup, Sock.SOL_SOCKET, Sock.SO_TYPE, what),
                        Sock.getInt(dup, Sock.SOL_SOCKET, InetSock.SO_PROTOCOL, what));
            } finally {
                Fd.close(dup);
            }
        } catch (SysException e) {
            return null;   // gone, or no socket options: the other kinds decide
        }
    }

    /**
     * A packet socket's protocol in network order, from /proc/PID/net/packet (its Proto column, in host order):
     * SO_PROTOCOL answers 0 for packet sockets (af_packet.c packet_create sets no sk_protocol).
     */
    private static int packetProtocol(int pid, long ino) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/net/packet"))) {
                String[] f = line.trim().split("\\s+");
                if (f.length > 8 && f[8].equals(Long.toString(ino))) return Short.toUnsignedInt(Short.reverseBytes((short) Integer.parseInt(f[3], 16)));
            }
        } catch (IOException | NumberFormatException e) {
            // the words then say "no protocol"
        }
        return 0;
    }

    private static String comm(int pid) {
        try {
            return Files.readString(Path.of("/proc/" + pid + "/comm")).trim();
        } catch (IOException e) {
            return "?";
        }
    }

    /** include/uapi/linux/netlink.h */
    private static final String[] NETLINK = {"NETLINK_ROUTE", "NETLINK_UNUSED", "NETLINK_USERSOCK", "NETLINK_FIREWALL",
            "NETLINK_SOCK_DIAG", "NETLINK_NFLOG", "NETLINK_XFRM", "NETLINK_SELINUX", "NETLINK_ISCSI", "NETLINK_AUDIT",
            "NETLINK_FIB_LOOKUP", "NETLINK_CONNECTOR", "NETLINK_NETFILTER", "NETLINK_IP6_FW", "NETLINK_DNRTMSG",
            "NETLINK_KOBJECT_UEVENT", "NETLINK_GENERIC", null, "NETLINK_SCSITRANSPORT", "NETLINK_ECRYPTFS", "NETLINK_RDMA",
            "NETLINK_CRYPTO", "NETLINK_SMC"};

    static String netlink(int protocol) {
        return protocol >= 0 && protocol < NETLINK.length && NETLINK[protocol] != null ? NETLINK[protocol] : "netlink protocol " + protocol;
    }

    /** include/linux/socket.h */
    private static final String[] FAMILIES = {"AF_UNSPEC", "AF_UNIX", "AF_INET", "AF_AX25", "AF_IPX", "AF_APPLETALK", "AF_NETROM",
            "AF_BRIDGE", "AF_ATMPVC", "AF_X25", "AF_INET6", "AF_ROSE", "AF_DECnet", "AF_NETBEUI", "AF_SECURITY", "AF_KEY",
            "AF_NETLINK", "AF_PACKET", "AF_ASH", "AF_ECONET", "AF_ATMSVC", "AF_RDS", "AF_SNA", "AF_IRDA", "AF_PPPOX",
            "AF_WANPIPE", "AF_LLC", "AF_IB", "AF_MPLS", "AF_CAN", "AF_TIPC", "AF_BLUETOOTH", "AF_IUCV", "AF_RXRPC", "AF_ISDN",
            "AF_PHONET", "AF_IEEE802154", "AF_CAIF", "AF_ALG", "AF_NFC", "AF_VSOCK", "AF_KCM", "AF_QIPCRTR", "AF_SMC", "AF_XDP",
            "AF_MCTP"};

    static String familyName(int f) {
        return f >= 0 && f < FAMILIES.length ? FAMILIES[f] : "address family " + f;
    }

    static String ipProto(int p) {
        return switch (p) {
            case 0 -> "IPPROTO_IP";
            case 1 -> "IPPROTO_ICMP";
            case 2 -> "IPPROTO_IGMP";
            case 6 -> "IPPROTO_TCP";
            case 17 -> "IPPROTO_UDP";
            case 41 -> "IPPROTO_IPV6";
            case 47 -> "IPPROTO_GRE";
            case 58 -> "IPPROTO_ICMPV6";
            case 132 -> "IPPROTO_SCTP";
            case 136 -> "IPPROTO_UDPLITE";
            case 255 -> "IPPROTO_RAW";
            case 262 -> "IPPROTO_MPTCP";
            default -> "protocol " + p;
        };
    }

    /** A packet socket's protocol: the ethertype in network order (packet(7)). */
    static String ethertype(int protocol) {
        int e = Short.toUnsignedInt(Short.reverseBytes((short) protocol));
        return switch (e) {
            case 0 -> "no protocol";
            case 0x0003 -> "ETH_P_ALL";
            case 0x0800 -> "ETH_P_IP";
            case 0x0806 -> "ETH_P_ARP";
            case 0x86dd -> "ETH_P_IPV6";
            default -> String.format("ethertype 0x%04x", e);
        };
    }
}
