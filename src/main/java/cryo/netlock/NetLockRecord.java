package cryo.netlock;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;
import cryo.sys.InetSock;
import cryo.sys.InetSock.Endpoint;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * NET_LOCK, right after HEAD: the nftables table (family inet) that drops the packets of the tree's TCP
 * sockets from the checkpoint until the restart has them back, and what it locks (for `cryo show`). The table
 * name goes to nft: it is checked strictly (NetworkLock.NAME).
 */
public record NetLockRecord(String table, List<LockedSocket> sockets) implements ImageRecord {
    /** At most this many sockets in one record. */
    static final int MAX_SOCKETS = 1 << 20;
    private static final int LISTEN = 0, CONNECTION = 1;

    public NetLockRecord {
        sockets = List.copyOf(sockets);
    }

    public RecordType type() {
        return RecordType.NET_LOCK;
    }

    public void encode(Encoder e) {
        e.str(table).u32(sockets.size());
        for (LockedSocket s : sockets) {
            e.u32(s.listening() ? LISTEN : CONNECTION).u32(s.local().family());
            endpoint(e, s.local());
            if (!s.listening()) endpoint(e, s.remote());
        }
    }

    private static void endpoint(Encoder e, Endpoint p) {
        e.bytes(p.addr()).u32(p.port());
    }

    public static NetLockRecord decode(Decoder d) throws ImageException {
        String table = d.str("table");
        if (!validTable(table)) throw d.error("table", "is '" + table + "', not a cryo lock table name (" + NetworkLock.NAME.pattern() + ")");
        int n = d.u32("count", 0, MAX_SOCKETS);
        List<LockedSocket> sockets = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int kind = d.u32("kind", LISTEN, CONNECTION);
            int family = d.u32("family");
            if (family != InetSock.AF_INET && family != InetSock.AF_INET6) throw d.error("family", "is " + family + ", neither AF_INET (2) nor AF_INET6 (10)");
            Endpoint local = endpoint(d, family, "local");
            sockets.add(kind == LISTEN ? LockedSocket.listener(local) : LockedSocket.connection(local, endpoint(d, family, "remote")));
        }
        return new NetLockRecord(table, sockets);
    }

    private static Endpoint endpoint(Decoder d, int family, String side) throws ImageException {
        byte[] addr = d.bytes(side + "_addr", 16);
        int want = family == InetSock.AF_INET ? 4 : 16;
        if (addr.length != want) throw d.error(side + "_addr", "has " + addr.length + " bytes, family " + family + " has " + want);
        int port = d.u32(side + "_port", 0, 65535);
        return Endpoint.of(family, addr, port);
    }

    static boolean validTable(String table) {
        return table.length() <= NetworkLock.NAME_MAX && NetworkLock.NAME.matcher(table).matches();
    }

    /** For `cryo show`. */
    public Map<String, Object> fields() {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("table", table);
        m.put("sockets", sockets.stream().map(s -> (Object) s.toString()).toList());
        return m;
    }
}
