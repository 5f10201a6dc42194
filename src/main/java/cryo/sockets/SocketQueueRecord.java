package cryo.sockets;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;
import cryo.sys.Sock;

import java.util.ArrayList;
import java.util.List;

/**
 * SOCKET_QUEUE: what waits unread in the receive queue of socket `socket`, in order. On a datagram or
 * seqpacket socket each message is one datagram or record (boundaries kept); on a stream socket a message is
 * a run of bytes of one writer (the kernel does not merge writers' credentials). from: the sender's bound
 * name (empty if unnamed); creds: SCM_CREDENTIALS the receiver gets with it (SO_PASSCRED), or null.
 */
public record SocketQueueRecord(int socket, List<Message> messages) implements SocketRecord {
    /** The most messages one queue may hold (net.unix.max_dgram_qlen is 512 by default; streams are runs). */
    public static final int MAX_MESSAGES = 1 << 20;
    /** The most bytes one message may hold (sk_sndbuf is an int). */
    public static final int MAX_BYTES = Integer.MAX_VALUE - 16;

    public record Message(byte[] data, byte[] from, Sock.Ucred creds) {
    }

    public long bytes() {
        long n = 0;
        for (Message m : messages) n += m.data.length;
        return n;
    }

    public RecordType type() {
        return RecordType.SOCKET_QUEUE;
    }

    public void encode(Encoder e) {
        e.u32(socket).u32(messages.size());
        for (Message m : messages) {
            e.u32(m.creds == null ? 0 : 1).u32(m.creds == null ? 0 : m.creds.pid()).u32(m.creds == null ? 0 : m.creds.uid())
                    .u32(m.creds == null ? 0 : m.creds.gid()).bytes(m.from).bytes(m.data);
        }
    }

    public static SocketQueueRecord decode(Decoder d) throws ImageException {
        int socket = d.u32("socket", 1, Integer.MAX_VALUE);
        int n = d.u32("count", 1, MAX_MESSAGES);
        List<Message> l = new ArrayList<>(Math.min(n, 1024));
        for (int i = 0; i < n; i++) {
            int has = d.u32("has_creds", 0, 1);
            int pid = d.u32("creds.pid", 0, Integer.MAX_VALUE), uid = d.u32("creds.uid"), gid = d.u32("creds.gid");
            if (has == 0 && (pid | uid | gid) != 0) throw d.error("creds", "set on message " + i + " that has none");
            byte[] from = d.bytes("from", Sock.SUN_PATH_MAX);
            byte[] data = d.bytes("data", MAX_BYTES);
            l.add(new Message(data, from, has == 1 ? new Sock.Ucred(pid, uid, gid) : null));
        }
        return new SocketQueueRecord(socket, l);
    }
}
