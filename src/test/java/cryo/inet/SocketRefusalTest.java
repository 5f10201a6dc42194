package cryo.inet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sockets cryo does not restore are refused all at once, one line each naming the task (pid and comm), the fd,
 * the family and the protocol: netlink sockets (a resolver's NETLINK_ROUTE socket kept open, a uevent
 * listener), raw and ping sockets, packet sockets, UDP-Lite, and a family cryo does not know (AF_VSOCK). The
 * program runs on, untraced, and no image is left.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class SocketRefusalTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    /** Opens every socket it can of a list, prints "name fd" for each, then READY. */
    private static final String PROGRAM = """
            import socket as S, sys
            tries = [
                ('netlink_route', lambda: S.socket(S.AF_NETLINK, S.SOCK_RAW, 0)),
                ('netlink_uevent', lambda: S.socket(S.AF_NETLINK, S.SOCK_DGRAM, 15)),
                ('raw4', lambda: S.socket(S.AF_INET, S.SOCK_RAW, S.IPPROTO_ICMP)),
                ('raw6', lambda: S.socket(S.AF_INET6, S.SOCK_RAW, S.IPPROTO_ICMPV6)),
                ('ping4', lambda: S.socket(S.AF_INET, S.SOCK_DGRAM, S.IPPROTO_ICMP)),
                ('packet', lambda: S.socket(S.AF_PACKET, S.SOCK_RAW, S.htons(3))),
                ('udplite', lambda: S.socket(S.AF_INET, S.SOCK_DGRAM, 136)),
                ('vsock', lambda: S.socket(S.AF_VSOCK, S.SOCK_STREAM, 0)),
            ]
            keep = []
            for name, make in tries:
                try:
                    s = make()
                except (OSError, AttributeError):
                    continue
                if name == 'netlink_route':
                    s.bind((0, 0))
                keep.append(s)
                print(name, s.fileno(), flush=True)
            print('READY', flush=True)
            sys.stdin.read()
            """;

    private static final Map<String, String> WORDS = Map.of(
            "netlink_route", "a netlink socket (NETLINK_ROUTE)",
            "netlink_uevent", "a netlink socket (NETLINK_KOBJECT_UEVENT)",
            "raw4", "a raw IPv4 socket (IPPROTO_ICMP)",
            "raw6", "a raw IPv6 socket (IPPROTO_ICMPV6)",
            "ping4", "an IPv4 ping socket (SOCK_DGRAM, IPPROTO_ICMP)",
            "packet", "a packet socket (SOCK_RAW, ETH_P_ALL)",
            "udplite", "an IPv4 UDP-Lite socket (IPPROTO_UDPLITE)",
            "vsock", "an AF_VSOCK socket (type 1, protocol 0)");

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    @Test
    void everyUnsupportedSocketIsOneLineNamingFamilyAndProtocol() throws IOException {
        Proc p = cleanup.start("sockets", new ProcessBuilder(Fixtures.python().toString(), "-c", PROGRAM));
        Map<String, Integer> fds = new LinkedHashMap<>();
        for (String l = p.out().next("a socket or READY", cryo.testing.Timeouts.LINE); !l.equals("READY"); l = p.out().next("a socket or READY", cryo.testing.Timeouts.LINE)) {
            String[] f = l.split(" ");
            fds.put(f[0], Integer.parseInt(f[1]));
        }
        assertTrue(fds.containsKey("netlink_route") && fds.containsKey("raw4") && fds.containsKey("packet"), "the kernel gave " + fds);
        Cryo.Result r = Cryo.run(cleanup, "checkpoint", Long.toString(p.pid()), "-o", tmp.resolve("x.img").toString());
        assertTrue(r.exit() != 0, r::describe);
        List<String> want = new ArrayList<>();
        for (var e : fds.entrySet()) want.add("cryo: task " + p.pid() + " (python3): fd " + e.getValue() + " is " + WORDS.get(e.getKey()));
        want.add("cryo: checkpoint refused for the " + fds.size() + " reasons above");
        List<String> got = new ArrayList<>();
        for (String l : r.stderrLines()) got.add(l.replaceAll(" \\(socket:\\[\\d+]\\): not supported$", "").replaceAll("(reasons above).*", "$1"));
        assertEquals(want, got, r::describe);
        for (String l : r.stderrLines().subList(0, fds.size())) assertTrue(l.endsWith("): not supported"), l);
        assertEquals(List.of(), Cryo.list(tmp), "no image, not even a temporary one");
        Procfs.assertRunningUntraced(p.pid(), "the program");
    }

    /**
     * A UDP socket that joined a multicast group with a source filter, and one holding corked data (UDP_CORK) the kernel gives no way
     * to read: each refused in one line naming the socket and why.
     */
    @Test
    void multicastMembershipAndCorkedDataAreRefused() throws IOException {
        Proc p = cleanup.start("udp", new ProcessBuilder(Fixtures.python().toString(), "-c", """
                import socket as S, struct, sys
                m = S.socket(S.AF_INET, S.SOCK_DGRAM)
                m.bind(('0.0.0.0', 0))
                m.setsockopt(S.IPPROTO_IP, 39, struct.pack('4s4s4s', S.inet_aton('239.7.7.7'), S.inet_aton('127.0.0.1'), S.inet_aton('127.0.0.9')))   # IP_ADD_SOURCE_MEMBERSHIP
                c = S.socket(S.AF_INET, S.SOCK_DGRAM)
                c.setsockopt(S.IPPROTO_UDP, 1, 1)              # UDP_CORK
                c.sendto(b'corked', ('127.0.0.1', 9))
                print(m.fileno(), m.getsockname()[1], c.fileno(), c.getsockname()[1], flush=True)
                sys.stdin.read()
                """));
        String[] f = p.out().next("fds and ports", cryo.testing.Timeouts.LINE).split(" ");
        Cryo.Result r = Cryo.run(cleanup, "checkpoint", Long.toString(p.pid()), "-o", tmp.resolve("x.img").toString());
        assertTrue(r.exit() != 0, r::describe);
        List<String> lines = r.stderrLines();
        assertEquals(3, lines.size(), r::describe);
        String task = "cryo: task " + p.pid() + ": fd ";
        assertTrue(lines.get(0).startsWith(task + f[0] + " is an IPv4 UDP socket on 0.0.0.0:" + f[1] + " (socket:[")
                && lines.get(0).endsWith(" that joined multicast group 239.7.7.7 on lo with a source filter (IP_ADD_SOURCE_MEMBERSHIP, MCAST_MSFILTER...): not supported"), lines.get(0));
        assertTrue(lines.get(1).startsWith(task + f[2] + " is an IPv4 UDP socket on 0.0.0.0:" + f[3] + " (socket:[")
                && lines.get(1).contains(" bytes not sent yet (corked with UDP_CORK or MSG_MORE"), lines.get(1));
        assertEquals(List.of(), Cryo.list(tmp), "no image, not even a temporary one");
        Procfs.assertRunningUntraced(p.pid(), "the program");
    }
}
