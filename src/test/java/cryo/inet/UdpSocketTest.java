package cryo.inet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * UDP sockets of a Python program, IPv4 and IPv6: b bound to loopback with options set (buffers, TOS or
 * traffic class, TTL or hop limit, SO_MARK, SO_PRIORITY, timestamps and packet info asked for), c connected to
 * the test's sender S (bound by connect), b in a multicast group on lo, rp sharing its wildcard port (SO_REUSEPORT) with a peek offset, u
 * created and never bound. Datagrams from two senders outside the tree (this JVM) wait in b's and c's queues,
 * one empty, one of 60000 bytes. After a checkpoint (killed and restarted, or left running) the program finds
 * every socket as it was, reads the same datagrams from the same senders with the control messages it asked
 * for, and receives what S sends after restart.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class UdpSocketTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final String PROGRAM = """
# UDP sockets for UdpSocketTest. argv: family (4 or 6), the port of the test's sender S (c connects to it).
# Prints "READY <b port> <c port> <fd b> <fd c>", then on each stdin line:
#   check: compares every socket's address, peer and options with what they were at start ("STATE OK" or
#          "STATE DIFF ..."), then reads b and c dry: "GOT <name> <sender port> <length> <data> <cmsgs>", "DRY"
#   more N: reads N datagrams more (blocking, 20 s at most), the same way, then "DONE"
import errno, select, socket, struct, sys
S = socket
v6 = sys.argv[1] == '6'
F = S.AF_INET6 if v6 else S.AF_INET
LO = '::1' if v6 else '127.0.0.1'
IP_PKTINFO, IP_RECVTOS, SO_MARK, SO_PEEK_OFF, SO_TIMESTAMP = 8, 13, 36, 42, 29
IPV6_RECVPKTINFO, IPV6_TCLASS, IPV6_RECVTCLASS = 49, 67, 66

b = S.socket(F, S.SOCK_DGRAM)
b.setsockopt(S.SOL_SOCKET, S.SO_REUSEADDR, 1)
b.setsockopt(S.SOL_SOCKET, S.SO_RCVBUF, 150000)
b.setsockopt(S.SOL_SOCKET, S.SO_SNDBUF, 60000)
b.setsockopt(S.SOL_SOCKET, SO_TIMESTAMP, 1)
b.setsockopt(S.SOL_SOCKET, SO_MARK, 7)
if v6:
    b.setsockopt(S.IPPROTO_IPV6, S.IPV6_V6ONLY, 1)
    b.setsockopt(S.IPPROTO_IPV6, IPV6_TCLASS, 0x20)
    b.setsockopt(S.IPPROTO_IPV6, S.IPV6_UNICAST_HOPS, 9)
    b.setsockopt(S.IPPROTO_IPV6, S.IPV6_MULTICAST_HOPS, 5)
    b.setsockopt(S.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
    b.setsockopt(S.IPPROTO_IPV6, IPV6_RECVTCLASS, 1)
else:
    b.setsockopt(S.SOL_SOCKET, S.SO_BROADCAST, 1)
    b.setsockopt(S.IPPROTO_IP, S.IP_TOS, 0x10)
    b.setsockopt(S.IPPROTO_IP, S.IP_TTL, 9)
    b.setsockopt(S.IPPROTO_IP, S.IP_MULTICAST_TTL, 5)
    b.setsockopt(S.IPPROTO_IP, S.IP_MULTICAST_LOOP, 0)
    b.setsockopt(S.IPPROTO_IP, IP_PKTINFO, 1)
    b.setsockopt(S.IPPROTO_IP, IP_RECVTOS, 1)
b.setsockopt(S.SOL_SOCKET, S.SO_PRIORITY, 3)     # after IP_TOS, which sets the priority too
b.bind((LO, 0))
if v6:
    GROUP = (S.IPPROTO_IPV6, S.IPV6_JOIN_GROUP, S.IPV6_LEAVE_GROUP, S.inet_pton(F, 'ff12::7:7') + struct.pack('I', 1))
else:
    GROUP = (S.IPPROTO_IP, S.IP_ADD_MEMBERSHIP, S.IP_DROP_MEMBERSHIP, struct.pack('4s4s', S.inet_aton('239.7.7.7'), S.inet_aton('127.0.0.1')))
b.setsockopt(GROUP[0], GROUP[1], GROUP[3])      # a multicast group on lo

def joined():
    # joining again fails with EADDRINUSE when the socket is in the group already
    try:
        b.setsockopt(GROUP[0], GROUP[1], GROUP[3])
    except OSError as e:
        return e.errno == errno.EADDRINUSE
    b.setsockopt(GROUP[0], GROUP[2], GROUP[3])
    return False

c = S.socket(F, S.SOCK_DGRAM)                   # bound by connect: the wildcard address, a port the kernel picks
c.connect((LO, int(sys.argv[2])))
rp = S.socket(F, S.SOCK_DGRAM)                  # a port shared with SO_REUSEPORT, and a peek offset
rp.setsockopt(S.SOL_SOCKET, S.SO_REUSEPORT, 1)
rp.setsockopt(S.SOL_SOCKET, SO_PEEK_OFF, 0)
rp.bind(('::' if v6 else '0.0.0.0', 0))
u = S.socket(F, S.SOCK_DGRAM)                   # created, never bound
socks = {'b': b, 'c': c, 'rp': rp, 'u': u}

OPTS = [(S.SOL_SOCKET, o) for o in (S.SO_REUSEADDR, S.SO_REUSEPORT, S.SO_BROADCAST, S.SO_RCVBUF, S.SO_SNDBUF,
                                     S.SO_PRIORITY, SO_MARK, SO_TIMESTAMP, SO_PEEK_OFF)]
OPTS += [(S.IPPROTO_IP, o) for o in (S.IP_TOS, S.IP_TTL, S.IP_MULTICAST_TTL, S.IP_MULTICAST_LOOP, IP_PKTINFO, IP_RECVTOS)]
if v6:
    OPTS += [(S.IPPROTO_IPV6, o) for o in (S.IPV6_V6ONLY, IPV6_TCLASS, S.IPV6_UNICAST_HOPS, S.IPV6_MULTICAST_HOPS,
                                            IPV6_RECVPKTINFO, IPV6_RECVTCLASS)]

def state():
    st = {}
    for n, s in socks.items():
        try:
            peer = s.getpeername()
        except OSError:
            peer = None
        st[n] = (s.getsockname(), peer, [s.getsockopt(l, o) for l, o in OPTS])
    st['group'] = joined()
    return st

def got(n, s, flags):
    data, anc, fl, addr = s.recvmsg(70000, 1024, flags)
    kinds = sorted({'pktinfo' if t in (IP_PKTINFO, 50) else 'tos' if t in (S.IP_TOS, IPV6_TCLASS) and l != S.SOL_SOCKET
                    else 'timestamp' if l == S.SOL_SOCKET and t == SO_TIMESTAMP else '%d.%d' % (l, t) for l, t, _ in anc})
    tos = [v for l, t, v in anc if l != S.SOL_SOCKET and t in (S.IP_TOS, IPV6_TCLASS)]
    text = data.decode() if len(data) < 100 else 'x%d' % len(data)
    print('GOT', n, addr[1], len(data), text or '-', ','.join(kinds) or '-', tos[0][0] if tos else '-', flush=True)

before = state()
print('READY', b.getsockname()[1], c.getsockname()[1], b.fileno(), c.fileno(), flush=True)
for line in sys.stdin:
    w = line.split()
    if w[0] == 'check':
        after = state()
        diff = ['%s: %s != %s' % (n, before[n], after[n]) for n in before if before[n] != after[n]]
        print('STATE ' + ('OK' if not diff else 'DIFF ' + '; '.join(diff)), flush=True)
        for n in ('b', 'c'):
            while True:
                try:
                    got(n, socks[n], S.MSG_DONTWAIT)
                except BlockingIOError:
                    break
        print('DRY', flush=True)
    elif w[0] == 'more':
        for _ in range(int(w[1])):
            r, _, _ = select.select([b, c], [], [], 20)
            if not r:
                print('TIMEOUT', flush=True)
                break
            got('b' if r[0] is b else 'c', r[0], 0)
        print('DONE', flush=True)
""";

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    /** The fixture running, its ports and fds, and the two senders. */
    private record Started(Proc p, int bPort, int cPort, int bFd, int cFd, DatagramChannel s, DatagramChannel s2, InetAddress lo, boolean v6) {
        int port(DatagramChannel ch) throws IOException {
            return ((InetSocketAddress) ch.getLocalAddress()).getPort();
        }

        /** Sends data from ch to the fixture's port, and waits until the socket at fd has it queued. */
        void send(DatagramChannel ch, int port, int fd, byte[] data) throws IOException {
            long before = UdpTesting.rxQueue(p.pid(), fd, v6);
            ch.send(ByteBuffer.wrap(data), new InetSocketAddress(lo, port));
            UdpTesting.awaitRxQueueAbove(p.pid(), fd, v6, before);
        }
    }

    private Started start(String family, DatagramChannel s, DatagramChannel s2) throws IOException {
        boolean v6 = family.equals("6");
        InetAddress lo = InetAddress.getByName(v6 ? "::1" : "127.0.0.1");
        s.bind(new InetSocketAddress(lo, 0));
        s2.bind(new InetSocketAddress(lo, 0));
        Path program = Files.writeString(tmp.resolve("udp.py"), PROGRAM);
        int sPort = ((InetSocketAddress) s.getLocalAddress()).getPort();
        Proc p = cleanup.start("udp fixture", new ProcessBuilder(Fixtures.python().toString(), program.toString(), family, Integer.toString(sPort)));
        String[] f = p.await("READY", l -> l.startsWith("READY ")).split(" ");
        Started st = new Started(p, Integer.parseInt(f[1]), Integer.parseInt(f[2]), Integer.parseInt(f[3]), Integer.parseInt(f[4]), s, s2, lo, v6);
        st.send(s, st.bPort, st.bFd, "one".getBytes());
        st.send(s2, st.bPort, st.bFd, "two".getBytes());
        st.send(s, st.bPort, st.bFd, new byte[0]);
        st.send(s2, st.bPort, st.bFd, "x".repeat(60000).getBytes());
        st.send(s, st.cPort, st.cFd, "to-c".getBytes());
        return st;
    }

    /** What "check" prints when every socket is as it was and the five datagrams wait where they were sent. */
    private static List<String> expected(Started st) throws IOException {
        String b = " pktinfo,timestamp,tos 0";
        int s = st.port(st.s), s2 = st.port(st.s2);
        return List.of("STATE OK", "GOT b " + s + " 3 one" + b, "GOT b " + s2 + " 3 two" + b, "GOT b " + s + " 0 -" + b,
                "GOT b " + s2 + " 60000 x60000" + b, "GOT c " + s + " 4 to-c - -", "DRY");
    }

    private static List<String> check(Proc p) {
        p.send("check");
        List<String> lines = new ArrayList<>();
        while (lines.isEmpty() || !lines.getLast().equals("DRY")) lines.add(p.out().next("the fixture's check", Timeouts.LINE));
        return lines;
    }

    @ParameterizedTest(name = "IPv{0}")
    @ValueSource(strings = {"4", "6"})
    void restartGivesBackSocketsOptionsAndQueuedDatagrams(String family) throws IOException {
        try (DatagramChannel s = DatagramChannel.open(family.equals("6") ? StandardProtocolFamily.INET6 : StandardProtocolFamily.INET);
             DatagramChannel s2 = DatagramChannel.open(family.equals("6") ? StandardProtocolFamily.INET6 : StandardProtocolFamily.INET)) {
            Started st = start(family, s, s2);
            Path image = tmp.resolve("udp.img");
            Cryo.Result r = Cryo.checkpoint(cleanup, st.p.pid(), image);
            assertEquals("", r.stderr(), "no warning: every datagram is kept");
            st.p.awaitExit(Timeouts.EXIT);

            Proc back = Cryo.startRestart(cleanup, image, st.p.pid());
            assertEquals(expected(st), check(back), back::tails);
            s.send(ByteBuffer.wrap("after-b".getBytes()), new InetSocketAddress(st.lo, st.bPort));
            s.send(ByteBuffer.wrap("after-c".getBytes()), new InetSocketAddress(st.lo, st.cPort));
            back.send("more 2");
            List<String> more = new ArrayList<>();
            while (more.isEmpty() || !more.getLast().equals("DONE")) more.add(back.out().next("datagrams after restart", Timeouts.LINE));
            more.sort(null);
            assertEquals(List.of("DONE", "GOT b " + st.port(s) + " 7 after-b pktinfo,timestamp,tos 0", "GOT c " + st.port(s) + " 7 after-c - -"), more, back::tails);
            back.closeStdin();
            assertEquals(0, back.awaitExit(Timeouts.EXIT), back.tails());
        }
    }

    @ParameterizedTest(name = "IPv{0}")
    @ValueSource(strings = {"4", "6"})
    void leaveRunningLeavesEverySocketAsItWas(String family) throws IOException {
        try (DatagramChannel s = DatagramChannel.open(family.equals("6") ? StandardProtocolFamily.INET6 : StandardProtocolFamily.INET);
             DatagramChannel s2 = DatagramChannel.open(family.equals("6") ? StandardProtocolFamily.INET6 : StandardProtocolFamily.INET)) {
            Started st = start(family, s, s2);
            Cryo.checkpoint(cleanup, st.p.pid(), tmp.resolve("udp.img"), "--leave-running");
            Procfs.assertRunningUntraced(st.p.pid(), "the fixture");
            assertEquals(expected(st), check(st.p), st.p::tails);
            Cryo.Result show = Cryo.run(cleanup, "show", tmp.resolve("udp.img").toString()).assertOk();
            assertTrue(show.stdout().contains("UDP_QUEUE") && show.stdout().contains("queued=\"4 datagrams, 60006 bytes\""), show.stdout());
        }
    }
}
