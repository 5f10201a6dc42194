package cryo.netlock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.sys.InetSock;
import cryo.sys.InetSock.Endpoint;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * NET_LOCK field by field (its table name goes to nft: only cryo's own names pass), the addresses of
 * /proc/net/tcp and tcp6, and the rules made of them (IPv4-mapped addresses become IPv4 ones).
 */
class NetLockRecordTest {
    private static final byte[] LO4 = {127, 0, 0, 1}, LO6 = new byte[16];

    static {
        LO6[15] = 1;
    }

    private static String decodeError(Consumer<Encoder> body) {
        Encoder e = new Encoder();
        body.accept(e);
        return assertThrows(ImageException.class, () -> {
            Decoder d = new Decoder(MemorySegment.ofBuffer(e.finish()), "NET_LOCK #0");
            NetLockRecord.decode(d);
            d.end();
        }).getMessage();
    }

    @Test
    void aRecordComesBackAsItWasWritten() throws ImageException {
        NetLockRecord r = new NetLockRecord("cryo-lock-12-345-0", List.of(
                LockedSocket.listener(Endpoint.of(InetSock.AF_INET6, new byte[16], 8080)),
                LockedSocket.connection(Endpoint.of(InetSock.AF_INET, LO4, 8080), Endpoint.of(InetSock.AF_INET, LO4, 40000)),
                LockedSocket.connection(Endpoint.of(InetSock.AF_INET6, LO6, 443), Endpoint.of(InetSock.AF_INET6, LO6, 50000))));
        Encoder e = new Encoder();
        r.encode(e);
        Decoder d = new Decoder(MemorySegment.ofBuffer(e.finish()), "NET_LOCK #0");
        assertEquals(r, NetLockRecord.decode(d));
        d.end();
        assertEquals("[listen [::]:8080, 127.0.0.1:8080 <-> 127.0.0.1:40000, [::1]:443 <-> [::1]:50000]", r.fields().get("sockets").toString());
    }

    @Test
    void fieldsAreCheckedOneByOne() {
        for (String name : List.of("cryo-lock-1-2-3; flush ruleset", "cryo-lock-1-2", "other", "cryo-lock-1-2-3 ", "CRYO-LOCK-1-2-3",
                "cryo-lock-1-2-" + "9".repeat(60))) {
            assertTrue(decodeError(e -> e.str(name).u32(0)).startsWith("record NET_LOCK #0: field 'table' is '"), name);
        }
        String table = "cryo-lock-1-2-3";
        assertEquals("record NET_LOCK #0: field 'count' is -1, outside 0..1048576", decodeError(e -> e.str(table).u32(-1)));
        assertEquals("record NET_LOCK #0: field 'kind' is 2, outside 0..1", decodeError(e -> e.str(table).u32(1).u32(2)));
        assertEquals("record NET_LOCK #0: field 'family' is 1, neither AF_INET (2) nor AF_INET6 (10)",
                decodeError(e -> e.str(table).u32(1).u32(0).u32(1)));
        assertEquals("record NET_LOCK #0: field 'local_addr' has 16 bytes, family 2 has 4",
                decodeError(e -> e.str(table).u32(1).u32(0).u32(2).bytes(LO6).u32(80)));
        assertEquals("record NET_LOCK #0: field 'local_port' is 65536, outside 0..65535",
                decodeError(e -> e.str(table).u32(1).u32(0).u32(2).bytes(LO4).u32(65536)));
        assertEquals("record NET_LOCK #0: field 'remote_port' runs past the end of the record",
                decodeError(e -> e.str(table).u32(1).u32(1).u32(2).bytes(LO4).u32(80).bytes(LO4)));
    }

    @Test
    void procNetTcpAddressesAndMappedOnes() {
        assertEquals("127.0.0.1:8080", TreeSockets.endpoint(InetSock.AF_INET, "0100007F:1F90").toString());
        Endpoint one = TreeSockets.endpoint(InetSock.AF_INET6, "00000000000000000000000001000000:0050");
        assertEquals("[::1]:80", one.toString());
        Endpoint mapped = TreeSockets.endpoint(InetSock.AF_INET6, "0000000000000000FFFF00000100007F:0050");
        LockedSocket s = LockedSocket.connection(mapped, mapped);
        assertEquals(InetSock.AF_INET, s.local().family());
        assertEquals("127.0.0.1:80 <-> 127.0.0.1:80", s.toString());
        String script = LockRules.script("cryo-lock-1-2-3", "x", List.of(s, LockedSocket.listener(Endpoint.of(InetSock.AF_INET, LO4, 81))));
        assertTrue(script.contains("127.0.0.1 . 80 . 127.0.0.1 . 80"), script);
        assertTrue(script.contains("127.0.0.1 . 81"), script);
    }
}
