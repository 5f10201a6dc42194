package cryo.sockets;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;
import cryo.sys.Sock;
import cryo.sys.SockDiag;

/**
 * SOCKET_UNIX: one Unix-domain socket (net/unix/af_unix.c struct unix_sock). A socket held by an fd has the
 * objref of its OPEN_FILE description (a socket has exactly one description); a connection still waiting in
 * a listener's accept queue has no fd and an objref of its own, and names its listener in waitingIn (its
 * place in the queue is the order of the records). peer: the objref of the socket it is connected to, 0 if
 * none; acceptedFrom: the listener an accepted connection came from (it shares its name). name: the bound
 * address (a path, or a 0 byte and an abstract name), empty if unbound; for a path, fileMode/fileUid/fileGid
 * are the socket file's. externalPeer: for a connection to a socket outside the tree declared with
 * --external unix:INODE, the name restart connects to again.
 */
public record UnixSocketRecord(int objref, long inode, int sockType, int state, int peer, int acceptedFrom, int waitingIn,
                               int flags, int shutdown, int sndbuf, int rcvbuf, int peekOff, int backlog,
                               int fileMode, int fileUid, int fileGid, byte[] name, byte[] externalPeer) implements SocketRecord {
    /** flags: SO_PASSCRED is on; the peer was closed (a connected socket whose other end is gone). */
    public static final int PASSCRED = 1, PEER_CLOSED = 2;

    public RecordType type() {
        return RecordType.SOCKET_UNIX;
    }

    public boolean passcred() {
        return (flags & PASSCRED) != 0;
    }

    public boolean peerClosed() {
        return (flags & PEER_CLOSED) != 0;
    }

    public boolean listening() {
        return state == SockDiag.TCP_LISTEN;
    }

    public boolean stream() {
        return sockType != Sock.SOCK_DGRAM;
    }

    public boolean pathName() {
        return name.length > 0 && name[0] != 0;
    }

    /** "Unix stream socket 123 at /run/x", for messages. */
    public String describe() {
        String t = switch (sockType) {
            case Sock.SOCK_STREAM -> "stream";
            case Sock.SOCK_DGRAM -> "datagram";
            default -> "seqpacket";
        };
        return "Unix " + t + " socket " + inode + (name.length > 0 ? " at " + SockDiag.nameText(name) : "");
    }

    public void encode(Encoder e) {
        e.u32(objref).u64(inode).u32(sockType).u32(state).u32(peer).u32(acceptedFrom).u32(waitingIn).u32(flags).u32(shutdown)
                .u32(sndbuf).u32(rcvbuf).u32(peekOff).u32(backlog).u32(fileMode).u32(fileUid).u32(fileGid).bytes(name).bytes(externalPeer);
    }

    public static UnixSocketRecord decode(Decoder d) throws ImageException {
        int objref = d.u32("objref", 1, Integer.MAX_VALUE);
        long inode = d.u64("inode");
        int type = d.u32("type");
        if (type != Sock.SOCK_STREAM && type != Sock.SOCK_DGRAM && type != Sock.SOCK_SEQPACKET) throw d.error("type", "is " + type + ", not SOCK_STREAM (1), SOCK_DGRAM (2) or SOCK_SEQPACKET (5)");
        int state = d.u32("state");
        if (state != SockDiag.TCP_ESTABLISHED && state != SockDiag.TCP_CLOSE && state != SockDiag.TCP_LISTEN) throw d.error("state", "is " + state + ", not established (1), unconnected (7) or listening (10)");
        if (state == SockDiag.TCP_LISTEN && type == Sock.SOCK_DGRAM) throw d.error("state", "is listening on a datagram socket");
        int peer = d.u32("peer", 0, Integer.MAX_VALUE);
        int acceptedFrom = d.u32("accepted_from", 0, Integer.MAX_VALUE);
        int waitingIn = d.u32("waiting_in", 0, Integer.MAX_VALUE);
        int flags = d.u32("flags", 0, PASSCRED | PEER_CLOSED);
        int shutdown = d.u32("shutdown", 0, SockDiag.RCV_SHUTDOWN | SockDiag.SEND_SHUTDOWN);
        int sndbuf = d.u32("sndbuf", 1, Integer.MAX_VALUE);
        int rcvbuf = d.u32("rcvbuf", 1, Integer.MAX_VALUE);
        int peekOff = d.u32("peek_off");
        if (peekOff < -1) throw d.error("peek_off", "is " + peekOff + ", not -1 (off) or an offset");
        int backlog = d.u32("backlog", 0, Integer.MAX_VALUE);
        int mode = d.u32("file_mode", 0, 07777);
        int uid = d.u32("file_uid");
        int gid = d.u32("file_gid");
        byte[] name = d.bytes("name", Sock.SUN_PATH_MAX);
        byte[] ext = d.bytes("external_peer", Sock.SUN_PATH_MAX);
        if (name.length > 0 && name[0] != 0 && (name[0] != '/' || new String(name).indexOf('\0') >= 0)) throw d.error("name", "'" + SockDiag.nameText(name) + "' is neither an absolute path nor an abstract name");
        if (ext.length > 0 && ext[0] != 0 && ext[0] != '/') throw d.error("external_peer", "'" + SockDiag.nameText(ext) + "' is neither an absolute path nor an abstract name");
        if (peer == objref) throw d.error("peer", "is the socket itself");
        if ((mode | uid | gid) != 0 && !(name.length > 0 && name[0] != 0)) throw d.error("file_mode", "set for a socket without a path");
        if (state == SockDiag.TCP_LISTEN && (peer != 0 || name.length == 0)) throw d.error("state", "a listening socket with a peer or without a name");
        if (waitingIn != 0 && (state != SockDiag.TCP_ESTABLISHED || peer == 0 || acceptedFrom != 0)) throw d.error("waiting_in", "a connection waiting in an accept queue must be established, have a peer and not be accepted");
        if (acceptedFrom != 0 && (name.length == 0 || type == Sock.SOCK_DGRAM || (peer == 0 && (flags & PEER_CLOSED) == 0))) throw d.error("accepted_from", "an accepted connection without a name or a peer, or of a datagram socket");
        if ((flags & PEER_CLOSED) != 0 && peer != 0) throw d.error("flags", "the peer is closed but field 'peer' names " + peer);
        if (ext.length > 0 && peer != 0) throw d.error("external_peer", "set together with field 'peer'");
        return new UnixSocketRecord(objref, inode, type, state, peer, acceptedFrom, waitingIn, flags, shutdown, sndbuf, rcvbuf,
                peekOff, backlog, mode, uid, gid, name, ext);
    }
}
