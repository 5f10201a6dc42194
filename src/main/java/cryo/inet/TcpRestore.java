package cryo.inet;

import cryo.files.FileKind;
import cryo.files.OpenFileRecord;
import cryo.files.RestoreContext;
import cryo.sys.Fd;
import cryo.sys.InetSock;
import cryo.sys.Sock;
import cryo.sys.SysException;
import cryo.sys.Tcp;

import java.util.ArrayList;
import java.util.List;

/**
 * Makes the TCP sockets of an image in cryo, for the fd broker to hand to the tasks: options first (a new
 * socket's value is left alone when it is the image's), the buffers the user locked, then a listener is bound
 * and listens, an unconnected socket is bound where it was, and a connection is put back with TCP repair
 * (TcpRepairWrite), out of repair mode once every socket is made (finish). A connection's listener, which holds the same port, is made before it.
 */
final class TcpRestore implements FileKind.Restorer {
    private final TcpImage tcp;
    private final RestoreContext rc;
    private final List<Integer> made = new ArrayList<>();
    /** Connections still in repair mode, to cryo's fd: released in finish, when their peers exist. */
    private final java.util.Map<TcpSocketRecord, Integer> repairing = new java.util.LinkedHashMap<>();

    TcpRestore(TcpImage tcp, RestoreContext rc) {
        this.tcp = tcp;
        this.rc = rc;
    }

    public int open(OpenFileRecord d) throws SysException {
        TcpSocketRecord s = tcp.socket(d.objref());
        String what = s.describe();
        if (s.established()) {
            // an accepted connection shares its listener's port: the listener binds first (a socket in repair mode binds over it)
            for (TcpSocketRecord l : tcp.sockets()) {
                if (l.listening() && l.local().port() == s.local().port()) rc.localFd(l.objref());
            }
        }
        int fd = InetSock.socket(s.family(), Sock.SOCK_STREAM | Sock.SOCK_NONBLOCK, InetSock.IPPROTO_TCP);
        made.add(fd);
        TcpOptions.apply(fd, s.options(), 0, what);
        if ((s.flags() & TcpSocketRecord.SNDBUF_LOCKED) != 0) Sock.setInt(fd, Sock.SOL_SOCKET, Sock.SO_SNDBUFFORCE, s.sndbuf() / 2, what + " SO_SNDBUFFORCE");
        if ((s.flags() & TcpSocketRecord.RCVBUF_LOCKED) != 0) Sock.setInt(fd, Sock.SOL_SOCKET, Sock.SO_RCVBUFFORCE, s.rcvbuf() / 2, what + " SO_RCVBUFFORCE");
        if (s.lingerOnoff() != 0) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.nativeOrder()).putInt(1).putInt(s.lingerSecs());
            InetSock.setBytes(fd, Sock.SOL_SOCKET, TcpOptions.SO_LINGER, b.array(), what + " SO_LINGER");
        }
        if (!s.congestion().isEmpty()) {
            InetSock.setBytes(fd, InetSock.SOL_TCP, Tcp.TCP_CONGESTION, s.congestion().getBytes(java.nio.charset.StandardCharsets.US_ASCII), what + " TCP_CONGESTION");
        }
        if (s.listening()) {
            InetSock.bind(fd, s.local(), what);
            Sock.listen(fd, s.backlog(), what);
        } else if (s.established()) {
            TcpRepairWrite.restore(fd, s, tcp.stream(s.objref()), what);
            repairing.put(s, fd);
        } else if (s.local().port() != 0) {
            InetSock.bind(fd, s.local(), what);
        }
        Fd.fcntl(fd, Fd.F_SETFL, d.flags());
        return fd;
    }

    public void finish() throws SysException {
        for (var e : repairing.entrySet()) TcpRepairWrite.release(e.getValue(), e.getKey(), tcp.stream(e.getKey().objref()), e.getKey().describe());
        repairing.clear();
    }

    public void close() {
        for (int fd : made) Fd.close(fd);
        made.clear();
    }
}
