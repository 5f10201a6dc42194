package cryo.inet;

import cryo.sys.InetSock;
import cryo.sys.ProcFile;
import cryo.sys.SysException;
import cryo.sys.Udp;

import java.io.IOException;
import java.util.HexFormat;

/**
 * Multicast groups a UDP socket joined. No call lists a socket's memberships; the groups joined on each
 * interface are in /proc/net/igmp and /proc/net/igmp6 (those of cryo's network namespace, the tree's), and each
 * is asked of the socket (Udp.joined).
 */
final class UdpGroups {
    private UdpGroups() {
    }

    /** "239.1.2.3 on interface 2 (eth0)", the first group socket fd joined; null if none. */
    static String joined(int fd, int family, String what) throws SysException, IOException {
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
                    InetSock.Endpoint g = InetSock.Endpoint.of(InetSock.AF_INET, a, 0);
                    if (Udp.joined(fd, index, g, what)) return name(g, index, dev);
                }
            }
            if (family != InetSock.AF_INET6) return null;
            for (String line : ProcFile.read("/proc/net/igmp6").split("\n")) {
                String[] f = line.trim().split("\\s+");
                if (f.length < 3 || f[2].length() != 32) continue;
                InetSock.Endpoint g = InetSock.Endpoint.of(InetSock.AF_INET6, HexFormat.of().parseHex(f[2]), 0);
                if (Udp.joined(fd, Integer.parseInt(f[0]), g, what)) return name(g, Integer.parseInt(f[0]), f[1]);
            }
            return null;
        } catch (java.nio.file.NoSuchFileException e) {
            return null;   // a kernel without multicast: nothing joined
        }
    }

    private static String name(InetSock.Endpoint g, int index, String dev) {
        String a = g.toString();
        return a.substring(0, a.lastIndexOf(':')).replace("[", "").replace("]", "") + " on interface " + index + " (" + dev + ")";
    }
}
