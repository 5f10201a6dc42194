package cryo.ns;

import cryo.image.Refusal;
import cryo.sys.Net;
import cryo.sys.Proc;
import cryo.sys.ProcFile;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.Function;

/**
 * What a container's network namespace holds beyond what a new one has: cryo recreates only lo (up or down),
 * so any other address or route, and any of the commonly set sysctls below with another value than in a
 * new namespace, is refused at checkpoint. The new namespace to compare with is made here, by a thread that
 * unshares its own network namespace (unshare(2)) and sets lo up when the container's is: its addresses,
 * routes and sysctl values are what restart gives the clone.
 */
public final class NetState {
    /**
     * net sysctls a user or a program commonly sets, relative to /proc/sys/net/ (one absent here is skipped).
     * ip_forward is conf/all/forwarding, and setting it sets every interface's (ip-sysctl.rst): listed once.
     */
    static final List<String> SYSCTLS = List.of(
            "ipv4/ip_local_port_range", "ipv4/ip_local_reserved_ports", "ipv4/ip_unprivileged_port_start",
            "ipv4/ping_group_range", "ipv4/ip_forward",
            "ipv4/ip_default_ttl", "ipv4/ip_nonlocal_bind", "ipv4/icmp_echo_ignore_all", "ipv4/conf/all/rp_filter",
            "ipv4/tcp_keepalive_time", "ipv4/tcp_keepalive_intvl", "ipv4/tcp_keepalive_probes",
            "ipv4/tcp_fin_timeout", "ipv4/tcp_syncookies", "ipv4/tcp_tw_reuse", "ipv4/tcp_timestamps", "ipv4/tcp_sack",
            "ipv4/tcp_window_scaling", "ipv4/tcp_congestion_control", "ipv4/tcp_max_syn_backlog", "ipv4/tcp_rmem",
            "ipv4/tcp_wmem", "ipv4/tcp_fastopen", "ipv4/tcp_ecn", "ipv4/tcp_mtu_probing", "ipv4/tcp_slow_start_after_idle",
            "ipv4/udp_rmem_min", "ipv4/udp_wmem_min", "core/somaxconn",
            "ipv6/conf/all/disable_ipv6", "ipv6/conf/default/disable_ipv6", "ipv6/conf/lo/disable_ipv6",
            "ipv6/conf/all/forwarding", "ipv6/bindv6only");

    private NetState() {
    }

    /**
     * Refuses each address, route and sysctl of init's network namespace that a new one would not have, and
     * each address or route a new one has that init's lacks. A lo that is down may have been up before: the
     * kernel leaves 127.0.0.1 and ::1 on it then (devinet.c, addrconf.c), which a restart does not recreate
     * but gives back as soon as lo goes up; a new namespace is read both ways, and either is accepted.
     */
    public static void check(int init, boolean loUp, Refusal.Collector refused) throws IOException {
        Snapshot theirs;
        List<Snapshot> fresh = new ArrayList<>();
        try {
            theirs = Namespace.NET.run(init, () -> Snapshot.read("/proc/" + init + "/net/"));
            fresh.add(inNewNamespace(() -> {
                if (loUp) Net.setInterfaceUp("lo", true);
                return Snapshot.read("/proc/thread-self/net/");
            }));
            if (!loUp) fresh.add(inNewNamespace(() -> {
                Net.setInterfaceUp("lo", true);
                Net.setInterfaceUp("lo", false);
                return Snapshot.read("/proc/thread-self/net/");
            }));
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("reading the network namespace of the container's init " + init + ": " + e.getMessage(), e);
        }
        String ns = "the container's network namespace has ";
        String tail = ": cryo recreates only lo with its addresses 127.0.0.1/8 and ::1/128";
        // fib_trie lists an IPv4 address only while its interface is up; SIOCGIFCONF always. An address brings
        // its own routes (fib_add_ifaddr, addrconf): refused with it, not once more.
        Set<String> added = new LinkedHashSet<>();
        for (String a : extra(theirs.ipv4Addresses, fresh, Snapshot::ipv4Addresses)) {
            refused.add(init, ns + "IPv4 address " + a + tail);
            added.add("local address " + a.substring(0, a.indexOf(' ')) + "/");
        }
        for (String a : missing(theirs.ipv4Addresses, fresh, Snapshot::ipv4Addresses)) refused.add(init, ns + "no IPv4 address " + a + tail);
        for (String r : extra(theirs.ipv4Routes, fresh, Snapshot::ipv4Routes)) {
            if (added.stream().noneMatch(r::startsWith)) refused.add(init, ns + "IPv4 " + r + tail);
        }
        for (String r : missing(theirs.ipv4Routes, fresh, Snapshot::ipv4Routes)) refused.add(init, ns + "no IPv4 " + r + tail);
        added.clear();
        for (String a : extra(theirs.ipv6Addresses, fresh, Snapshot::ipv6Addresses)) {
            refused.add(init, ns + "IPv6 address " + a + tail);
            added.add(a.substring(0, a.indexOf(' ')) + " ");
        }
        for (String a : missing(theirs.ipv6Addresses, fresh, Snapshot::ipv6Addresses)) refused.add(init, ns + "no IPv6 address " + a + tail);
        for (String r : extra(theirs.ipv6Routes, fresh, Snapshot::ipv6Routes)) {
            if (added.stream().noneMatch(r::startsWith)) refused.add(init, ns + "IPv6 route " + r + tail);
        }
        for (String r : missing(theirs.ipv6Routes, fresh, Snapshot::ipv6Routes)) refused.add(init, ns + "no IPv6 route " + r + tail);
        for (var e : theirs.sysctls.entrySet()) {
            String want = fresh.getFirst().sysctls.get(e.getKey());
            if (!e.getValue().equals(want)) {
                refused.add(init, ns + "net." + e.getKey().replace('/', '.') + " = " + e.getValue() + " (a new namespace has "
                        + (want == null ? "none" : want) + "): cryo does not restore it");
            }
        }
    }

    /** What theirs has that no new namespace has. */
    private static List<String> extra(Set<String> theirs, List<Snapshot> fresh, Function<Snapshot, Set<String>> part) {
        return theirs.stream().filter(x -> fresh.stream().noneMatch(f -> part.apply(f).contains(x))).toList();
    }

    /** What every new namespace has and theirs lacks. */
    private static List<String> missing(Set<String> theirs, List<Snapshot> fresh, Function<Snapshot, Set<String>> part) {
        return part.apply(fresh.getFirst()).stream().filter(x -> !theirs.contains(x) && fresh.stream().allMatch(f -> part.apply(f).contains(x))).toList();
    }

    /** Runs work on a platform thread of its own in a new network namespace (unshare(2) moves only that thread). */
    private static <T> T inNewNamespace(Callable<T> work) throws Exception {
        return cryo.sys.OwnThread.call("cryo-new-net-ns", () -> {
            Proc.unshare(Namespace.NET.cloneFlag);
            return work.call();
        });
    }

    /**
     * One namespace's addresses, routes and sysctls. dir is a /proc/.../net/ directory of a task in it (proc(5):
     * it shows that task's namespace); /proc/sys/net/ shows the namespace of the reading thread, so this runs on
     * a thread in the namespace.
     */
    private record Snapshot(Set<String> ipv4Addresses, Set<String> ipv6Addresses, Set<String> ipv4Routes, Set<String> ipv6Routes, Map<String, String> sysctls) {
        static Snapshot read(String dir) throws Exception {
            Set<String> v6a = new LinkedHashSet<>(), v6r = new LinkedHashSet<>();
            // if_inet6: address, ifindex, prefix length, scope, flags, interface (all hex but the name).
            for (String l : lines(dir + "if_inet6")) {
                String[] f = l.trim().split("\\s+");
                v6a.add(ipv6(f[0]) + "/" + Integer.parseInt(f[2], 16) + " on " + f[5]);
            }
            // ipv6_route: dest, dest len, src, src len, next hop, metric, refcnt, use, flags, interface; every table.
            for (String l : lines(dir + "ipv6_route")) {
                String[] f = l.trim().split("\\s+");
                v6r.add(ipv6(f[0]) + "/" + Integer.parseInt(f[1], 16)
                        + (Integer.parseInt(f[3], 16) != 0 ? " from " + ipv6(f[2]) + "/" + Integer.parseInt(f[3], 16) : "")
                        + (f[4].matches("0+") ? "" : " via " + ipv6(f[4])) + " metric " + Long.parseLong(f[5], 16)
                        + " flags 0x" + f[8] + " dev " + f[9]);
            }
            Map<String, String> sysctls = new LinkedHashMap<>();
            for (String s : SYSCTLS) {
                try {
                    sysctls.put(s, ProcFile.read("/proc/sys/net/" + s).trim().replaceAll("\\s+", " "));
                } catch (NoSuchFileException e) {
                    // not in this kernel
                }
            }
            return new Snapshot(new LinkedHashSet<>(Net.ipv4Addresses()), v6a, fibTrie(dir), v6r, sysctls);
        }

        /**
         * fib_trie lists every IPv4 table (net/ipv4/fib_trie.c fib_trie_seq_show): "|-- ADDRESS" leaves, each
         * followed by "/LEN SCOPE TYPE" lines; a local address is a "/32 host LOCAL" entry. Tables whose tries
         * the kernel shares (main and local until a rule is added) list the same entries: kept once.
         */
        private static Set<String> fibTrie(String dir) throws IOException {
            Set<String> out = new LinkedHashSet<>();
            String leaf = null;
            for (String l : lines(dir + "fib_trie")) {
                String t = l.trim();
                if (t.startsWith("|-- ")) leaf = t.substring(4).trim();
                else if (t.startsWith("/") && leaf != null) {
                    String[] f = t.split("\\s+");
                    String what = f.length >= 3 && f[2].equals("LOCAL") ? "local address " : "route ";
                    out.add(what + leaf + f[0] + " (" + t.substring(f[0].length()).trim() + ")");
                } else leaf = null;
            }
            return out;
        }

        private static List<String> lines(String path) throws IOException {
            try {
                return ProcFile.read(path).lines().filter(l -> !l.isBlank()).toList();
            } catch (NoSuchFileException e) {
                return List.of();   // no IPv6 in this kernel
            }
        }

        private static String ipv6(String hex) throws IOException {
            return InetAddress.getByAddress(HexFormat.of().parseHex(hex)).getHostAddress();
        }
    }
}
