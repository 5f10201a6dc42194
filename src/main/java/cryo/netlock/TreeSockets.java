package cryo.netlock;

import cryo.sys.InetSock;
import cryo.sys.InetSock.Endpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The TCP sockets a set of processes holds: every fd that is socket:[INODE], looked up by inode in
 * /proc/PID/net/tcp and tcp6 (the tables of that process's network namespace). Sockets that are neither
 * listening nor connected (TCP_CLOSE: just made, or only bound) have no packets to lock.
 */
final class TreeSockets {
    /** include/net/tcp_states.h */
    private static final int TCP_LISTEN = 0x0A, TCP_CLOSE = 0x07;

    private TreeSockets() {
    }

    /** The socket inodes among the fds of these processes (a process gone meanwhile has none). */
    static Set<Long> inodes(Collection<Integer> pids) throws IOException {
        Set<Long> inodes = new HashSet<>();
        for (int pid : pids) {
            try (var fds = Files.newDirectoryStream(Path.of("/proc/" + pid + "/fd"))) {
                for (Path fd : fds) {
                    String link;
                    try {
                        link = Files.readSymbolicLink(fd).toString();
                    } catch (NoSuchFileException e) {
                        continue;   // closed meanwhile (only possible if the process runs)
                    }
                    if (link.startsWith("socket:[") && link.endsWith("]")) inodes.add(Long.parseLong(link.substring(8, link.length() - 1)));
                }
            } catch (NoSuchFileException e) {
                // exited
            }
        }
        return inodes;
    }

    /** The TCP sockets among inodes, as seen in the network namespace of process pid. */
    static List<LockedSocket> tcp(int pid, Set<Long> inodes) throws IOException {
        Set<LockedSocket> found = new LinkedHashSet<>();
        if (inodes.isEmpty()) return List.of();
        read(Path.of("/proc/" + pid + "/net/tcp"), InetSock.AF_INET, inodes, found);
        read(Path.of("/proc/" + pid + "/net/tcp6"), InetSock.AF_INET6, inodes, found);
        return new ArrayList<>(found);
    }

    /**
     * One table of proc_net_tcp: "sl local_address rem_address st ... uid timeout inode", addresses as hex
     * words in host byte order then ":PORT" in hex (net/ipv4/tcp_ipv4.c get_tcp4_sock, net/ipv6/tcp_ipv6.c).
     */
    private static void read(Path table, int family, Set<Long> inodes, Set<LockedSocket> found) throws IOException {
        List<String> lines;
        try {
            lines = Files.readAllLines(table);
        } catch (NoSuchFileException e) {
            return;   // no IPv6 in this kernel
        }
        for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 10) continue;
            long inode = Long.parseLong(f[9]);
            if (inode == 0 || !inodes.contains(inode)) continue;
            int state = Integer.parseInt(f[3], 16);
            if (state == TCP_CLOSE) continue;
            Endpoint local = endpoint(family, f[1]);
            found.add(state == TCP_LISTEN ? LockedSocket.listener(local) : LockedSocket.connection(local, endpoint(family, f[2])));
        }
    }

    /** "0100007F:1F90": each 32-bit word of the address is printed as a host-order (little-endian) number. */
    static Endpoint endpoint(int family, String field) {
        int colon = field.indexOf(':');
        String hex = field.substring(0, colon);
        byte[] addr = new byte[hex.length() / 2];
        for (int w = 0; w < addr.length; w += 4) {
            for (int i = 0; i < 4; i++) {
                int at = 2 * (w + 3 - i);
                addr[w + i] = (byte) Integer.parseInt(hex.substring(at, at + 2), 16);
            }
        }
        return Endpoint.of(family, addr, Integer.parseInt(field.substring(colon + 1), 16));
    }
}
