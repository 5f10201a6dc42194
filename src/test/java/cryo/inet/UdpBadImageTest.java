package cryo.inet;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad UDP records are refused before anything is restored, one line naming the record and field: an address
 * family cryo does not know, a port out of range, a multicast group that is none, a datagram sent elsewhere, a queue shorter or longer than its socket recorded, bytes that
 * do not add up, a queue missing. No process and no socket is left behind.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class UdpBadImageTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    private static final String PROGRAM = """
            import socket, sys
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(('127.0.0.1', 0))
            print('READY', s.getsockname()[1], s.fileno(), flush=True)
            sys.stdin.read()
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    @Test
    void badUdpRecordsAreOneLineErrorsAndLeaveNothing() throws IOException {
        Path good = tmp.resolve("good.img");
        long pid;
        try (DatagramChannel s = DatagramChannel.open()) {
            InetAddress lo = InetAddress.getByName("127.0.0.1");
            s.bind(new InetSocketAddress(lo, 0));
            Proc p = cleanup.start("udp", new ProcessBuilder(Fixtures.python().toString(), "-c", PROGRAM));
            String[] f = p.await("READY", l -> l.startsWith("READY ")).split(" ");
            pid = p.pid();
            for (String m : List.of("first", "second")) {
                long before = UdpTesting.rxQueue(pid, Integer.parseInt(f[2]), false);
                s.send(ByteBuffer.wrap(m.getBytes()), new InetSocketAddress(lo, Integer.parseInt(f[1])));
                UdpTesting.awaitRxQueueAbove(pid, Integer.parseInt(f[2]), false, before);
            }
            Cryo.checkpoint(cleanup, pid, good);
            p.awaitExit(Timeouts.EXIT);
        }
        List<ImageRecord> records = TreeFixtures.withRecords(good, ArrayList::new);
        UdpQueueRecord queue = records.stream().filter(r -> r instanceof UdpQueueRecord).map(r -> (UdpQueueRecord) r).findFirst().orElseThrow();
        UdpQueueRecord.Datagram extra = queue.datagrams().getFirst();

        Map<String, String> cases = new LinkedHashMap<>();   // image -> what its error must say
        bad("family", r -> r instanceof UdpSocketRecord u ? TreeFixtures.with(u, "family", 3) : r, cases,
                "record UDP_SOCKET #0: field 'family' is 3, not AF_INET (2) or AF_INET6 (10)");
        bad("shorter", r -> r instanceof UdpQueueRecord q ? TreeFixtures.with(q, "datagrams", q.datagrams().subList(0, 1)) : r, cases,
                "record UDP_QUEUE #0: field 'count' is 1, but record UDP_SOCKET #0 says 2 datagrams are queued");
        bad("longer", r -> r instanceof UdpQueueRecord q ? TreeFixtures.with(q, "datagrams", List.of(extra, extra, extra)) : r, cases,
                "record UDP_QUEUE #0: field 'count' is 3, but record UDP_SOCKET #0 says 2 datagrams are queued");
        bad("bytes", r -> r instanceof UdpQueueRecord q ? TreeFixtures.with(q, "datagrams", List.of(extra, extra)) : r, cases,
                "record UDP_QUEUE #0: its datagrams hold 10 bytes, but record UDP_SOCKET #0 says 11");
        bad("no-queue", r -> r instanceof UdpQueueRecord ? null : r, cases,
                "record UDP_SOCKET #0: field 'queued' is 2, but no UDP_QUEUE record holds them");
        bad("group", r -> r instanceof UdpSocketRecord u ? TreeFixtures.with(u, "groups",
                List.of(new UdpSocketRecord.Group("lo", cryo.sys.InetSock.Endpoint.of(cryo.sys.InetSock.AF_INET, new byte[]{127, 0, 0, 1}, 0)))) : r, cases,
                "record UDP_SOCKET #0: field 'group.addr' 127.0.0.1:0 is not a multicast address");
        UdpQueueRecord.Datagram elsewhere = TreeFixtures.with(extra, "to", cryo.sys.InetSock.Endpoint.of(cryo.sys.InetSock.AF_INET, new byte[]{10, 9, 8, 7}, extra.to().port()));
        bad("to", r -> r instanceof UdpQueueRecord q ? TreeFixtures.with(q, "datagrams", List.of(elsewhere, q.datagrams().get(1))) : r, cases,
                "record UDP_QUEUE #0: field 'datagram.to.addr' 10.9.8.7:" + extra.to().port() + " is not the address of UDP socket on 127.0.0.1:" + extra.to().port());
        Path port = tmp.resolve("port.img");
        Files.write(port, patchPort(Files.readAllBytes(good), 70000));
        cases.put(port.toString(), "record UDP_SOCKET #0: field 'local.port' is 70000, outside 0..65535");

        for (var c : cases.entrySet()) {
            Path image = Path.of(c.getKey());
            Leftovers before = Leftovers.snapshot();
            String line = Cryo.restartExpectingFailure(cleanup, image, pid).assertOneLineError();
            assertTrue(line.contains(c.getValue()), image.getFileName() + ": " + line);
            assertFalse(Procfs.exists(pid), "restart of " + image.getFileName() + " left pid " + pid);
            before.assertNone(cleanup, "restart of " + image.getFileName());
        }
    }

    private void bad(String name, java.util.function.UnaryOperator<ImageRecord> change, Map<String, String> cases, String error) {
        Path out = tmp.resolve(name + ".img");
        TreeFixtures.rewrite(tmp.resolve("good.img"), out, rs -> rs.stream().map(change).filter(java.util.Objects::nonNull).toList());
        cases.put(out.toString(), error);
    }

    /**
     * The image with the local port of its UDP_SOCKET record set to port (which no record constructor allows),
     * and its TAIL's CRC32C made right again. Records are {u32 type; u32 len; body; pad to 8}; the port of an
     * IPv4 socket follows objref, inode, family and the 4-byte address with its length.
     */
    private static byte[] patchPort(byte[] img, int port) {
        ByteBuffer b = ByteBuffer.wrap(img).order(ByteOrder.LITTLE_ENDIAN);
        int at = cryo.image.Head.MAGIC.length, tail = -1;
        while (at < img.length) {
            int type = b.getInt(at), len = b.getInt(at + 4);
            if (type == cryo.image.RecordType.UDP_SOCKET.code) b.putInt(at + 8 + 4 + 8 + 4 + 4 + 4, port);
            if (type == cryo.image.RecordType.TAIL.code) tail = at;
            at += 8 + ((len + 7) & ~7);
        }
        assertTrue(tail > 0, "no TAIL found");
        b.putInt(tail + 8 + 8, cryo.image.ImageReader.checksum(java.lang.foreign.MemorySegment.ofArray(img), tail));
        return img;
    }
}
