package cryo.inet;

import cryo.files.OpenFileRecord;
import cryo.image.ImageException;
import cryo.sys.Tcp;

import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The TCP records of an image, checked across records before anything is restored: every TCP_SOCKET is the
 * socket of a TCP_SOCKET OPEN_FILE before it, every ESTABLISHED socket has one TCP_STREAM after it and no
 * other socket has one, and no queue holds more than the socket's buffers could.
 */
public final class TcpImage {
    private final Map<Integer, TcpSocketRecord> sockets = new LinkedHashMap<>();
    private final Map<Integer, TcpStreamRecord> streams = new HashMap<>();
    private final Map<Integer, String> names = new HashMap<>();

    public Collection<TcpSocketRecord> sockets() {
        return sockets.values();
    }

    public TcpSocketRecord socket(int objref) {
        return sockets.get(objref);
    }

    public TcpStreamRecord stream(int objref) {
        return streams.get(objref);
    }

    /** Checks one record against those before it (name: "TCP_SOCKET #2"). */
    public void add(TcpRecord r, String name, Map<Integer, OpenFileRecord> openFiles) throws ImageException {
        String at = "record " + name + ": ";
        switch (r) {
            case TcpSocketRecord s -> {
                if (sockets.containsKey(s.objref())) throw new ImageException(at + "objref " + s.objref() + " is used twice");
                OpenFileRecord o = openFiles.get(s.objref());
                if (o == null || o.kind() != OpenFileRecord.Kind.TCP_SOCKET) throw new ImageException(at + "field 'objref' " + s.objref() + " names no TCP_SOCKET OPEN_FILE record before it");
                sockets.put(s.objref(), s);
                names.put(s.objref(), name);
            }
            case TcpStreamRecord t -> {
                TcpSocketRecord s = sockets.get(t.socket());
                if (s == null) throw new ImageException(at + "field 'socket' names objref " + t.socket() + ", which no TCP_SOCKET record before it has");
                if (!s.established()) throw new ImageException(at + "field 'socket' names " + s.describe() + ", which is " + Tcp.stateName(s.state()) + ", not connected");
                if (streams.put(t.socket(), t) != null) throw new ImageException(at + "a second TCP_STREAM for " + s.describe());
                // the kernel holds no more than a buffer's worth, and one segment over it (sk_stream_memory_free, tcp_try_rmem_schedule)
                long sendRoom = 2L * s.sndbuf() + (1 << 18), recvRoom = 2L * s.rcvbuf() + (1 << 18);
                if (t.sendQueue().length > sendRoom) throw new ImageException(at + "field 'send_queue' holds " + t.sendQueue().length + " bytes, more than the send buffer of " + s.sndbuf() + " allows");
                if (t.recvQueue().length > recvRoom) throw new ImageException(at + "field 'recv_queue' holds " + t.recvQueue().length + " bytes, more than the receive buffer of " + s.rcvbuf() + " allows");
                if (after(t.window().rcvWup(), t.rcvSeq())) throw new ImageException(at + "field 'window.rcv_wup' " + t.window().rcvWup() + " is after rcv_seq " + t.rcvSeq());
            }
        }
    }

    /** seq1 after seq2 in 32-bit sequence space (include/net/tcp.h before/after). */
    static boolean after(long seq1, long seq2) {
        return (int) (seq2 - seq1) < 0;
    }

    /** Once every record is read: each TCP_SOCKET description has its socket, each connection its stream. */
    public void checkComplete(Map<Integer, OpenFileRecord> openFiles) throws ImageException {
        for (OpenFileRecord o : openFiles.values()) {
            if (o.kind() == OpenFileRecord.Kind.TCP_SOCKET && !sockets.containsKey(o.objref())) throw new ImageException("record OPEN_FILE " + o.description() + " (objref " + o.objref() + "): no TCP_SOCKET record describes it");
        }
        for (TcpSocketRecord s : sockets.values()) {
            if (s.established() && !streams.containsKey(s.objref())) throw new ImageException("record " + names.get(s.objref()) + ": " + s.describe() + " has no TCP_STREAM record");
        }
    }
}
