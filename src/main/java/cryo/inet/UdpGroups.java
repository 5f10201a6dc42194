package cryo.inet;

import cryo.sys.InetSock;
import cryo.sys.ProcFile;
import cryo.sys.SysException;
import cryo.sys.Udp;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Multicast groups a UDP socket joined. No call lists a socket's memberships; the groups joined on each
 * interface are in /proc/net/igmp and /proc/net/igmp6 (those of cryo's network namespace, the tree's), and each
 * is asked of the socket (Udp.joined). Restart joins them again on the interface of the same name.
 */
final class UdpGroups {
    private UdpGroups() {
    }

    /** One group a socket joined on an interface, with its source filter (mode MCAST_EXCLUDE 0 / INCLUDE 1, sources). */
    record Joined(UdpSocketRecord.Group group, int ifindex, int mode, int sources) {
        /** Every source, no filter: what MCAST_JOIN_GROUP makes again. */
        boolean allSources() {
            return mode == 0 && sources == 0;
        }
    }

    /** Every group socket fd joined, in the order /proc lists them. */
    static List<Joined> joined(int fd, int family, String what) throws SysException, IOException {
        List<Joined> l = new ArrayList<>();
        try {
            int index = 0;
            String dev = "";
            for (String line : ProcFile.read("/proc/net/igmp").split("\n")) {
                String[] f = line.trim().split("\\s+");
                if (line.isEmpty() || line.startsWith("Idx")) continue;
                if (!line.startsWith("\t")) {
                    index = Integer.parseInt(f[0]);
                    dev = f[1];
                } else if (f[0].length() == 8) {
                    int word = Integer.parseUnsignedInt(f[0], 16);   // the address in network order printed as a host-order word
                    byte[] a = {(byte) word, (byte) (word >>> 8), (byte) (word >>> 16), (byte) (word >>> 24)};
                    add(l, fd, index, dev, InetSock.Endpoint.of(InetSock.AF_INET, a, 0), what);
                }
            }
            if (family != InetSock.AF_INET6) return l;
            for (String line : ProcFile.read("/proc/net/igmp6").split("\n")) {
                String[] f = line.trim().split("\\s+");
                if (f.length < 3 || f[2].length() != 32) continue;
                add(l, fd, Integer.parseInt(f[0]), f[1], InetSock.Endpoint.of(InetSock.AF_INET6, HexFormat.of().parseHex(f[2]), 0), what);
            }
        } catch (java.nio.file.NoSuchFileException e) {
            // a kernel without multicast: nothing joined
        }
        return l;
    }

    private static void add(List<Joined> l, int fd, int index, String dev, InetSock.Endpoint group, String what) throws SysException {
        int[] filter = Udp.joined(fd, index, group, what);
        if (filter != null) l.add(new Joined(new UdpSocketRecord.Group(dev, group), index, filter[0], filter[1]));
    }

    /** The index of interface dev in cryo's network namespace (the tree's). */
    static int ifindex(String dev) throws SysException {
        try {
            return Integer.parseInt(Files.readString(Path.of("/sys/class/net/" + dev + "/ifindex")).trim());
        } catch (IOException | NumberFormatException e) {
            throw new SysException("if_nametoindex(" + dev + ")", cryo.sys.Errno.ENOENT);
        }
    }
}
