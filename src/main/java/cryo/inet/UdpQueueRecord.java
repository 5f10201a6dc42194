package cryo.inet;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;
import cryo.sys.InetSock;
import cryo.sys.Udp;

import java.util.ArrayList;
import java.util.List;

/**
 * UDP_QUEUE: the datagrams waiting in the receive queue of UDP socket `socket`, in order. Each has its sender
 * (from), the address it was sent to (to, of the same family), its IPv4 TOS or IPv6 traffic class and its TTL
 * or hop limit (-1: not known), and its data. A datagram from an IPv4 sender to an IPv6 socket is recorded
 * with IPv4 addresses (it came in as IPv4; the socket sees them as v4-mapped).
 */
public record UdpQueueRecord(int socket, List<Datagram> datagrams) implements UdpRecord {
    public record Datagram(InetSock.Endpoint from, InetSock.Endpoint to, int tos, int ttl, byte[] data) {
    }

    public long bytes() {
        long n = 0;
        for (Datagram d : datagrams) n += d.data.length;
        return n;
    }

    public RecordType type() {
        return RecordType.UDP_QUEUE;
    }

    public void encode(Encoder e) {
        e.u32(socket).u32(datagrams.size());
        for (Datagram d : datagrams) {
            e.u32(d.from.family());
            UdpSocketRecord.endpoint(e, d.from);
            UdpSocketRecord.endpoint(e, d.to);
            e.u32(d.tos).u32(d.ttl).bytes(d.data);
        }
    }

    public static UdpQueueRecord decode(Decoder d) throws ImageException {
        int socket = d.u32("socket", 1, Integer.MAX_VALUE);
        int n = d.u32("count", 1, UdpSocketRecord.MAX_QUEUED);
        List<Datagram> l = new ArrayList<>(Math.min(n, 1024));
        for (int i = 0; i < n; i++) {
            int family = UdpSocketRecord.family(d, "datagram.family");
            InetSock.Endpoint from = UdpSocketRecord.endpoint(d, "datagram.from", family);
            InetSock.Endpoint to = UdpSocketRecord.endpoint(d, "datagram.to", family);
            if (from.port() == 0) throw d.error("datagram.from.port", "is 0");
            int tos = d.u32("datagram.tos", -1, 255), ttl = d.u32("datagram.ttl", -1, 255);
            l.add(new Datagram(from, to, tos, ttl, d.bytes("datagram.data", Udp.MAX_PAYLOAD)));
        }
        return new UdpQueueRecord(socket, List.copyOf(l));
    }
}
