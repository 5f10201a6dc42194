package cryo.sockets;

import cryo.sys.SockDiag;

import java.util.LinkedHashMap;
import java.util.Map;

/** The fields `cryo show` prints of socket records. */
public final class SocketShow {
    private SocketShow() {
    }

    public static Map<String, Object> fields(SocketRecord r) {
        Map<String, Object> m = new LinkedHashMap<>();
        switch (r) {
            case UnixSocketRecord s -> {
                m.put("objref", s.objref());
                m.put("inode", s.inode());
                m.put("kind", s.sockType() == cryo.sys.Sock.SOCK_STREAM ? "stream" : s.sockType() == cryo.sys.Sock.SOCK_DGRAM ? "dgram" : "seqpacket");
                m.put("state", s.listening() ? "listening" : s.state() == SockDiag.TCP_ESTABLISHED ? "connected" : "unconnected");
                if (s.name().length > 0) m.put("name", SockDiag.nameText(s.name()));
                if (s.pathName()) m.put("file", "0" + Integer.toOctalString(s.fileMode()) + " " + s.fileUid() + ":" + s.fileGid());
                if (s.peer() != 0) m.put("peer", s.peer());
                if (s.peerClosed()) m.put("peer", "closed");
                if (s.externalPeer().length > 0) m.put("external_peer", SockDiag.nameText(s.externalPeer()));
                if (s.acceptedFrom() != 0) m.put("accepted_from", s.acceptedFrom());
                if (s.waitingIn() != 0) m.put("waiting_in", s.waitingIn());
                if (s.listening()) m.put("backlog", s.backlog());
                if (s.shutdown() != 0) m.put("shutdown", ((s.shutdown() & SockDiag.RCV_SHUTDOWN) != 0 ? "rd" : "") + ((s.shutdown() & SockDiag.SEND_SHUTDOWN) != 0 ? "wr" : ""));
                if (s.passcred()) m.put("passcred", true);
                m.put("sndbuf", s.sndbuf());
                m.put("rcvbuf", s.rcvbuf());
                if (s.peekOff() != -1) m.put("peek_off", s.peekOff());
            }
            case SocketQueueRecord q -> {
                m.put("socket", q.socket());
                m.put("messages", q.messages().size());
                m.put("bytes", q.bytes());
            }
        }
        return m;
    }
}
