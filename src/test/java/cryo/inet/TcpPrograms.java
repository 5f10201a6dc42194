package cryo.inet;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The Python programs of the TCP tests: a server (in the tree) and a client (outside it). */
final class TcpPrograms {
    private TcpPrograms() {
    }

    /**
     * server.py FAMILY(4|6|64): listens on loopback (64: an IPv6 socket on the wildcard taking IPv4 too, IPv4-mapped addresses) (port from the kernel, printed), takes one connection, sets
     * options on it (keepalive, user timeout, priority, linger, TOS/TCLASS, TTL/hops, congestion control,
     * SO_MARK, SO_OOBINLINE, a locked receive buffer), and answers each line "X" with "echo X". "pause" makes it print PAUSED and wait for a line
     * on stdin before it reads on (what the client sends meanwhile waits unread in its receive queue); "opts"
     * answers with the connection's options as the server sees them.
     */
    static final String SERVER = """
            import socket, sys, os
            S, T = socket.SOL_SOCKET, socket.IPPROTO_TCP
            v6 = sys.argv[1] in ('6', '64')
            fam = socket.AF_INET6 if v6 else socket.AF_INET
            l = socket.socket(fam, socket.SOCK_STREAM)
            l.setsockopt(S, socket.SO_REUSEADDR, 1)
            if v6: l.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            l.bind(({'6': '::1', '64': '::'}.get(sys.argv[1], '127.0.0.1'), 0))
            l.listen(5)
            print('PORT', l.getsockname()[1], os.getpid(), flush=True)
            c, _ = l.accept()
            c.setsockopt(T, socket.TCP_NODELAY, 1)
            c.setsockopt(S, socket.SO_KEEPALIVE, 1)
            c.setsockopt(T, socket.TCP_KEEPIDLE, 77)
            c.setsockopt(T, socket.TCP_KEEPINTVL, 11)
            c.setsockopt(T, socket.TCP_KEEPCNT, 4)
            c.setsockopt(T, socket.TCP_USER_TIMEOUT, 30000)
            c.setsockopt(S, socket.SO_PRIORITY, 3)
            c.setsockopt(S, socket.SO_LINGER, b'\\x01\\0\\0\\0\\x05\\0\\0\\0')
            c.setsockopt(T, socket.TCP_CONGESTION, b'reno')
            c.setsockopt(S, socket.SO_MARK, 7)
            c.setsockopt(S, socket.SO_OOBINLINE, 1)
            c.setsockopt(S, socket.SO_RCVBUF, 32768)
            if v6:
                c.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0x20)
                c.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 33)
            else:
                c.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x10)
                c.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 33)
            def opts():
                o = [c.getsockopt(T, socket.TCP_NODELAY), c.getsockopt(S, socket.SO_KEEPALIVE), c.getsockopt(T, socket.TCP_KEEPIDLE),
                     c.getsockopt(T, socket.TCP_KEEPINTVL), c.getsockopt(T, socket.TCP_KEEPCNT), c.getsockopt(T, socket.TCP_USER_TIMEOUT),
                     c.getsockopt(S, socket.SO_PRIORITY), c.getsockopt(S, socket.SO_LINGER, 8), c.getsockopt(S, socket.SO_REUSEADDR),
                     c.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS) if v6 else c.getsockopt(socket.IPPROTO_IP, socket.IP_TOS),
                     c.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS) if v6 else c.getsockopt(socket.IPPROTO_IP, socket.IP_TTL),
                     c.getsockopt(T, socket.TCP_CONGESTION, 16).rstrip(b'\\0'), c.getsockopt(S, socket.SO_MARK),
                     c.getsockopt(S, socket.SO_OOBINLINE), c.getsockopt(S, socket.SO_RCVBUF),
                     c.getsockname(), c.getpeername(), c.getblocking()]
                return ' '.join(str(x) for x in o)
            f = c.makefile('rb', buffering=0)
            while True:
                line = f.readline()
                if not line:
                    break
                if line == b'pause\\n':
                    print('PAUSED', flush=True)
                    sys.stdin.readline()
                elif line == b'opts\\n':
                    c.sendall(('opts ' + opts() + '\\n').encode())
                else:
                    c.sendall(b'echo ' + line)
            print('EOF', flush=True)
            """;

    /**
     * client.py FAMILY PORT (64: IPv4): one connection; asks the options, 10 requests each answered in turn, then "pause"
     * and three requests at once (SENT), waits for their answers, 10 more, the options again; DONE. Any error
     * or wrong answer: a line saying so and exit status 1.
     */
    static final String CLIENT = """
            import socket, sys
            v6 = sys.argv[1] == '6'
            s = socket.create_connection(('::1' if v6 else '127.0.0.1', int(sys.argv[2])))
            f = s.makefile('rb', buffering=0)
            def ask(line):
                s.sendall(line)
                return f.readline()
            def expect(i):
                got = f.readline()
                if got != b'echo req %d\\n' % i:
                    print('WRONG', i, got, flush=True)
                    sys.exit(1)
            try:
                print('OPTS1', ask(b'opts\\n').decode().strip(), flush=True)
                for i in range(10):
                    s.sendall(b'req %d\\n' % i)
                    expect(i)
                s.sendall(b'pause\\nreq 10\\nreq 11\\nreq 12\\n')
                print('SENT', flush=True)
                for i in range(10, 13):
                    expect(i)
                for i in range(13, 23):
                    s.sendall(b'req %d\\n' % i)
                    expect(i)
                print('OPTS2', ask(b'opts\\n').decode().strip(), flush=True)
            except Exception as e:
                print('ERROR', repr(e), flush=True)
                sys.exit(1)
            print('DONE', flush=True)
            """;

    /**
     * Waits (up to 10 s) until every socket sending to port (the clients of a server on it) has its data
     * acknowledged (ss Send-Q 0): a client with nothing to retransmit stays silent while the server is away,
     * which is what keeps it from a reset there without the network lock.
     */
    static void awaitClientsAcknowledged(String port) throws IOException, InterruptedException {
        String last = "";
        for (int i = 0; i < 200; i++) {
            Process ss = new ProcessBuilder("ss", "-tnH", "dport = :" + port).redirectErrorStream(true).start();
            last = new String(ss.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).trim();
            if (!ss.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) throw new AssertionError("ss hangs");
            if (last.lines().allMatch(l -> l.trim().split("\\s+").length > 2 && l.trim().split("\\s+")[2].equals("0"))) return;
            Thread.sleep(50);
        }
        throw new AssertionError("a client of port " + port + " still has data not acknowledged: " + last);
    }

    static Path write(Path dir, String name, String program) throws IOException {
        return Files.writeString(dir.resolve(name), program);
    }
}
