package cryo.inet;

import cryo.files.OpenFileRecord;
import cryo.image.ImageException;
import cryo.sys.InetSock;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The UDP records of an image, checked across records before anything is restored: each socket names a
 * UDP_SOCKET description, each queue a socket before it, holding exactly the datagrams and bytes its socket
 * recorded, all sent to the socket's own port.
 */
public final class UdpImage {
    private final Map<Integer, UdpSocketRecord> sockets = new LinkedHashMap<>();
    private final Map<Integer, UdpQueueRecord> queues = new HashMap<>();
    private final Map<Integer, String> names = new HashMap<>();

    UdpSocketRecord socket(int objref) {
        return sockets.get(objref);
    }

    UdpQueueRecord queue(int objref) {
        return queues.get(objref);
    }

    /** Checks one record against those before it (name: "UDP_SOCKET #2"). */
    public void add(UdpRecord r, String name, Map<Integer, OpenFileRecord> openFiles) throws ImageException {
        String at = "record " + name + ": ";
        switch (r) {
            case UdpSocketRecord s -> {
                OpenFileRecord o = openFiles.get(s.objref());
                if (o == null || o.kind() != OpenFileRecord.Kind.UDP_SOCKET) throw new ImageException(at + "field 'objref' " + s.objref() + " names no UDP_SOCKET OPEN_FILE record before it");
                if (sockets.put(s.objref(), s) != null) throw new ImageException(at + "field 'objref' " + s.objref() + " is used twice");
                names.put(s.objref(), name);
            }
            case UdpQueueRecord q -> {
                UdpSocketRecord s = sockets.get(q.socket());
                if (s == null) throw new ImageException(at + "field 'socket' names objref " + q.socket() + ", which no UDP_SOCKET record before it has");
                if (queues.put(q.socket(), q) != null) throw new ImageException(at + "a second queue for socket " + q.socket());
                if (q.datagrams().size() != s.queued()) throw new ImageException(at + "field 'count' is " + q.datagrams().size() + ", but record " + names.get(s.objref()) + " says " + s.queued() + " datagrams are queued");
                if (q.bytes() != s.queuedBytes()) throw new ImageException(at + "its datagrams hold " + q.bytes() + " bytes, but record " + names.get(s.objref()) + " says " + s.queuedBytes());
                for (UdpQueueRecord.Datagram d : q.datagrams()) {
                    if (d.to().port() != s.local().port()) throw new ImageException(at + "field 'datagram.to.port' is " + d.to().port() + ", not the port of " + s.describe());
                    if (d.from().family() != s.family() && s.family() != InetSock.AF_INET6) throw new ImageException(at + "field 'datagram.family' is IPv6 on an IPv4 socket");
                    if (!s.local().isUnspecified() && !java.util.Arrays.equals(d.to().addr(), s.local().addr()) && !mapped(s.local(), d.to())) {
                        throw new ImageException(at + "field 'datagram.to.addr' " + d.to() + " is not the address of " + s.describe());
                    }
                }
            }
        }
    }

    /** Whether v6, an IPv6 address, is IPv4 address v4 as IPv6 sees it (::ffff:a.b.c.d). */
    private static boolean mapped(InetSock.Endpoint v6, InetSock.Endpoint v4) {
        byte[] a = v6.addr(), b = v4.addr();
        if (a.length != 16 || b.length != 4 || a[10] != (byte) 0xff || a[11] != (byte) 0xff) return false;
        for (int i = 0; i < 10; i++) if (a[i] != 0) return false;
        return java.util.Arrays.equals(java.util.Arrays.copyOfRange(a, 12, 16), b);
    }

    /** Once every record is read: every UDP description has its socket, every socket with datagrams its queue. */
    public void checkComplete(Map<Integer, OpenFileRecord> openFiles) throws ImageException {
        for (OpenFileRecord o : openFiles.values()) {
            if (o.kind() == OpenFileRecord.Kind.UDP_SOCKET && !sockets.containsKey(o.objref())) throw new ImageException("record OPEN_FILE " + o.description() + " (objref " + o.objref() + "): no UDP_SOCKET record describes it");
        }
        for (UdpSocketRecord s : sockets.values()) {
            if (s.queued() > 0 && !queues.containsKey(s.objref())) throw new ImageException("record " + names.get(s.objref()) + ": field 'queued' is " + s.queued() + ", but no UDP_QUEUE record holds them");
        }
    }
}
