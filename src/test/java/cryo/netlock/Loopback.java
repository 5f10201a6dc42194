package cryo.netlock;

import cryo.testing.Cleanup;
import cryo.testing.Fixtures;
import cryo.testing.Proc;

/**
 * A Python TCP echo server and client on loopback, ports chosen by the kernel. The server prints
 * "PORT p", "ACCEPTED p" per client and "LINE x" per line it receives and echoes. The client takes commands
 * on stdin: "send x"; "retrans" waits (60 s at most) until TCP_INFO counts a retransmission more than when it
 * last sent, and prints "RETRANS n STATE s ERROR e" (tcpi_state, SO_ERROR: 104 would be ECONNRESET);
 * "recv" prints "GOT x" for the next echoed line; "finish" completes a non-blocking connect: "CONNECT errno".
 */
final class Loopback {
    static final String SERVER = """
            import socket, sys
            fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
            ls = socket.socket(fam, socket.SOCK_STREAM)
            ls.bind((sys.argv[1], 0))
            ls.listen(8)
            print('PORT', ls.getsockname()[1], flush=True)
            while True:
                c, a = ls.accept()
                print('ACCEPTED', a[1], flush=True)
                for line in c.makefile('rb'):
                    print('LINE', line.decode().strip(), flush=True)
                    c.sendall(line)
                print('EOF', flush=True)
                c.close()
            """;

    static final String CLIENT = """
            import socket, struct, sys, time, select
            addr, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
            s = socket.socket(socket.AF_INET6 if ':' in addr else socket.AF_INET, socket.SOCK_STREAM)
            def info():
                b = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
                return b[0], struct.unpack_from('I', b, 100)[0]
            if mode == 'nonblock':
                s.setblocking(False)
                try:
                    s.connect((addr, port))
                except BlockingIOError:
                    pass
                print('CONNECTING', flush=True)
            else:
                s.connect((addr, port))
                print('CONNECTED', s.getsockname()[1], flush=True)
            base = info()[1]
            for cmd in sys.stdin:
                cmd = cmd.split()
                if cmd[0] == 'send':
                    base = info()[1]
                    s.sendall((cmd[1] + '\\n').encode())
                    print('SENT', flush=True)
                elif cmd[0] == 'retrans':
                    deadline = time.time() + 60
                    while info()[1] <= base and time.time() < deadline:
                        time.sleep(0.02)
                    st, n = info()
                    print('RETRANS', n - base, 'STATE', st, 'ERROR', s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), flush=True)
                elif cmd[0] == 'recv':
                    s.setblocking(True)
                    s.settimeout(60)
                    data = b''
                    while not data.endswith(b'\\n'):
                        d = s.recv(100)
                        if not d:
                            break
                        data += d
                    print('GOT', data.decode().strip() if data else 'EOF', flush=True)
                elif cmd[0] == 'finish':
                    select.select([], [s], [], 60)
                    print('CONNECT', s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), flush=True)
            """;

    private Loopback() {
    }

    static Proc server(Cleanup cleanup, String bind) {
        return cleanup.start("server", new ProcessBuilder(Fixtures.python().toString(), "-u", "-c", SERVER, bind));
    }

    static int port(Proc server) {
        return Integer.parseInt(server.await("PORT", l -> l.startsWith("PORT ")).substring(5).trim());
    }

    static Proc client(Cleanup cleanup, String addr, int port, String mode) {
        return cleanup.start("client", new ProcessBuilder(Fixtures.python().toString(), "-u", "-c", CLIENT, addr, Integer.toString(port), mode));
    }

    /** "RETRANS n STATE s ERROR e" as {n, s, e}. */
    static int[] retrans(Proc client) {
        client.send("retrans");
        String[] f = client.await("RETRANS", l -> l.startsWith("RETRANS ")).split(" ");
        return new int[]{Integer.parseInt(f[1]), Integer.parseInt(f[3]), Integer.parseInt(f[5])};
    }
}
