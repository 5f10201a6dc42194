package cryo.sockets;

import cryo.files.OpenFileRecord;
import cryo.image.ImageException;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The socket records of an image, checked across records before anything is restored: every socket
 * description has its socket, every peer and listener named exists and fits, and no queue holds more than
 * the buffer it sits in could.
 */
public final class SocketsImage {
    private final Map<Integer, UnixSocketRecord> unix = new LinkedHashMap<>();
    private final Map<Integer, SocketQueueRecord> queues = new HashMap<>();
    private final Map<Integer, String> names = new HashMap<>();

    public Map<Integer, UnixSocketRecord> unix() {
        return unix;
    }

    public SocketQueueRecord queue(int socket) {
        return queues.get(socket);
    }

    /** The connections waiting in listener's accept queue, in queue order. */
    public List<UnixSocketRecord> waiting(int listener) {
        List<UnixSocketRecord> l = new ArrayList<>();
        for (UnixSocketRecord s : unix.values()) if (s.waitingIn() == listener) l.add(s);
        return l;
    }

    /** The accepted connections that came from listener. */
    public List<UnixSocketRecord> accepted(int listener) {
        List<UnixSocketRecord> l = new ArrayList<>();
        for (UnixSocketRecord s : unix.values()) if (s.acceptedFrom() == listener) l.add(s);
        return l;
    }

    /** Checks one record against those before it (name: "SOCKET_UNIX #2"). */
    public void add(SocketRecord r, String name, Map<Integer, OpenFileRecord> openFiles) throws ImageException {
        String at = "record " + name + ": ";
        switch (r) {
            case UnixSocketRecord s -> {
                if (unix.containsKey(s.objref())) throw new ImageException(at + "objref " + s.objref() + " is used twice");
                OpenFileRecord o = openFiles.get(s.objref());
                if (s.waitingIn() == 0 && (o == null || o.kind() != OpenFileRecord.Kind.UNIX_SOCKET)) throw new ImageException(at + "field 'objref' " + s.objref() + " names no UNIX_SOCKET OPEN_FILE record before it");
                if (s.waitingIn() != 0 && o != null) throw new ImageException(at + "a connection waiting in an accept queue has no fd, but objref " + s.objref() + " is an OPEN_FILE");
                unix.put(s.objref(), s);
                names.put(s.objref(), name);
            }
            case SocketQueueRecord q -> {
                UnixSocketRecord s = unix.get(q.socket());
                if (s == null) throw new ImageException(at + "field 'socket' names objref " + q.socket() + ", which no SOCKET_UNIX record before it has");
                if (queues.put(q.socket(), q) != null) throw new ImageException(at + "a second queue for socket " + q.socket());
                if (s.listening() || s.waitingIn() != 0) throw new ImageException(at + "a queue for " + s.describe() + ", which " + (s.listening() ? "is listening" : "waits in an accept queue"));
                for (SocketQueueRecord.Message m : q.messages()) {
                    if (m.from().length > 0 && m.from()[0] != 0 && m.from()[0] != '/') throw new ImageException(at + "field 'from' is neither an absolute path nor an abstract name");
                    if (m.from().length > 0 && s.stream()) throw new ImageException(at + "field 'from' is set on a message of a connected stream or seqpacket socket");
                }
            }
        }
    }

    /** Restart sends a queue again from the socket's peer, or for a named datagram socket from any socket: there must be one. */
    private void checkSender(UnixSocketRecord s, SocketQueueRecord q, String at) throws ImageException {
        String why = null;
        if (s.externalPeer().length > 0) why = "its peer is outside the tree";
        else if (s.peer() != 0 && unix.get(s.peer()).waitingIn() != 0) why = "its peer is a connection not accepted yet";
        else if (s.peer() == 0 && !s.peerClosed() && (s.stream() || s.name().length == 0)) why = "it has no peer and no name to send to";
        if (why != null) throw new ImageException(at + "a queue for " + s.describe() + ", but " + why);
    }

    /** Once every record is read: peers, listeners and descriptions all resolve, and queues fit their buffers. */
    public void checkComplete(Map<Integer, OpenFileRecord> openFiles) throws ImageException {
        for (OpenFileRecord o : openFiles.values()) {
            if (o.kind() == OpenFileRecord.Kind.UNIX_SOCKET && !unix.containsKey(o.objref())) throw new ImageException("record OPEN_FILE " + o.description() + " (objref " + o.objref() + "): no SOCKET_UNIX record describes it");
        }
        for (UnixSocketRecord s : unix.values()) {
            String at = "record " + names.get(s.objref()) + ": ";
            if (s.peer() != 0) {
                UnixSocketRecord p = unix.get(s.peer());
                if (p == null) throw new ImageException(at + "field 'peer' names objref " + s.peer() + ", which is no socket of the image");
                if (p.sockType() != s.sockType()) throw new ImageException(at + "its peer " + p.describe() + " is of another type");
                if (s.stream() && p.peer() != s.objref()) throw new ImageException(at + "its peer " + p.describe() + " is not connected to it");
                if (!s.stream() && p.peer() != s.objref() && p.name().length == 0) throw new ImageException(at + "its datagram peer " + p.describe() + " has no name to connect to");
            }
            for (int l : new int[]{s.waitingIn(), s.acceptedFrom()}) {
                if (l == 0) continue;
                UnixSocketRecord ls = unix.get(l);
                if (ls == null || !ls.listening() || ls.sockType() != s.sockType()) throw new ImageException(at + "objref " + l + " is no listening socket of its type");
                if (s.acceptedFrom() == l && !java.util.Arrays.equals(ls.name(), s.name())) throw new ImageException(at + "an accepted connection whose name differs from its listener's");
            }
            if (s.listening() && waiting(s.objref()).size() > (long) s.backlog() + 1) throw new ImageException(at + "more connections wait in the accept queue of " + s.describe() + " than its backlog of " + s.backlog() + " allows");
            SocketQueueRecord q = queues.get(s.objref());
            if (q != null) checkSender(s, q, at);
            if (q != null && s.stream() && s.peer() != 0 && q.bytes() > unix.get(s.peer()).sndbuf()) {
                throw new ImageException("record SOCKET_QUEUE of " + s.describe() + ": holds " + q.bytes() + " bytes, more than its peer's send buffer of " + unix.get(s.peer()).sndbuf());
            }
            if (q != null && q.bytes() > (long) Math.max(s.rcvbuf(), s.peer() != 0 ? unix.get(s.peer()).sndbuf() : s.rcvbuf()) * 2) {
                throw new ImageException("record SOCKET_QUEUE of " + s.describe() + ": holds " + q.bytes() + " bytes, more than its buffers allow");
            }
        }
    }
}
