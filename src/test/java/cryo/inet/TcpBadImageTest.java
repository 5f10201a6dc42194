package cryo.inet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.Head;
import cryo.image.ImageReader;
import cryo.image.ImageRecord;
import cryo.image.RecordType;
import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * `cryo show` prints the TCP records of an image. Images whose TCP records cannot be right, and an address in use at restart: each is one line naming the
 * record and field (or the socket and the address), and leaves nothing behind: no process, no socket
 * listening on the image's port.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class TcpBadImageTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("ss");
    }

    /** A server with a listener and a connection holding "req 1\n" unread, checkpointed --leave-running and then ended; its port. */
    private int goodImage(Path image, long[] pid) throws IOException {
        Proc s = cleanup.start("server", new ProcessBuilder(Fixtures.python().toString(), TcpPrograms.write(tmp, "server.py", TcpPrograms.SERVER).toString(), "4"));
        String[] f = s.await("PORT", l -> l.startsWith("PORT ")).split(" ");
        int port = Integer.parseInt(f[1]);
        pid[0] = s.pid();
        try (Socket c = new Socket()) {
            c.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
            c.getOutputStream().write("pause\nreq 1\n".getBytes(StandardCharsets.US_ASCII));
            s.await("PAUSED", l -> l.equals("PAUSED"));
            Cryo.checkpoint(cleanup, s.pid(), image, "--leave-running");
            s.send("go");
            c.setSoTimeout(30_000);
            assertEquals("echo req 1\n", new String(c.getInputStream().readNBytes(11), StandardCharsets.US_ASCII));
        }
        s.await("EOF", l -> l.equals("EOF"));
        assertEquals(0, s.awaitExit(Timeouts.EXIT), s.tails());
        return port;
    }

    @Test
    void badRecordsAreOneLineAndLeaveNothing() throws Exception {
        Path good = tmp.resolve("good.img");
        long[] pid = new long[1];
        int port = goodImage(good, pid);
        List<ImageRecord> records = TreeFixtures.withRecords(good, ArrayList::new);
        TcpStreamRecord stream = records.stream().filter(r -> r instanceof TcpStreamRecord).map(r -> (TcpStreamRecord) r).findFirst().orElseThrow();
        assertEquals("req 1\n", new String(stream.recvQueue(), StandardCharsets.US_ASCII), "the unread request in the image");
        String show = Cryo.run(cleanup, "show", good.toString()).assertOk().stdout();
        assertTrue(show.lines().anyMatch(l -> l.startsWith("TCP_SOCKET") && l.contains("state=LISTEN") && l.contains("local=127.0.0.1:" + port)), show);
        assertTrue(show.lines().anyMatch(l -> l.startsWith("TCP_STREAM") && l.contains("recv_queue=\"6 bytes\"")), show);
        TcpSocketRecord conn = records.stream().filter(r -> r instanceof TcpSocketRecord t && t.objref() == stream.socket()).map(r -> (TcpSocketRecord) r).findFirst().orElseThrow();

        Map<String, List<String>> expected = new java.util.LinkedHashMap<>();
        Path seq = rewrite(good, "seq.img", r -> r instanceof TcpStreamRecord t ? TreeFixtures.with(t, "sndSeq", 1L << 32) : r);
        expected.put(seq.toString(), List.of("TCP_STREAM", "'snd_seq'", "4294967296"));
        Path family = rewrite(good, "family.img", r -> r instanceof TcpSocketRecord t && t.objref() == conn.objref() ? TreeFixtures.with(t, "family", 3) : r);
        expected.put(family.toString(), List.of("TCP_SOCKET", "'family'", "3"));
        Path recvLen = tmp.resolve("recv-len.img");
        patchRecvLen(good, recvLen, 5);
        expected.put(recvLen.toString(), List.of("TCP_STREAM", "'recv_queue'", "6 bytes", "recv_len says 11"));
        Path bigQueue = rewrite(good, "big-queue.img", r -> r instanceof TcpStreamRecord t ? TreeFixtures.with(t, "recvQueue", new byte[2 * conn.rcvbuf() + (1 << 18) + 1]) : r);
        expected.put(bigQueue.toString(), List.of("TCP_STREAM", "'recv_queue'", "more than the receive buffer"));

        subreaper.off();
        for (var e : expected.entrySet()) {
            Path bad = Path.of(e.getKey());
            Leftovers before = Leftovers.snapshot();
            String line = Cryo.restartExpectingFailure(cleanup, bad, pid[0]).assertOneLineError();
            System.out.println("[TcpBadImageTest] " + bad.getFileName() + ": " + line);
            for (String want : e.getValue()) assertTrue(line.contains(want), bad.getFileName() + ": '" + want + "' in " + line);
            assertFalse(Procfs.exists(pid[0]), "restart of " + bad.getFileName() + " left pid " + pid[0]);
            assertEquals(0, TcpListenTest.listeners(port), "restart of " + bad.getFileName() + " left a listener on port " + port);
            before.assertNone(cleanup, "restart of " + bad.getFileName());
        }
    }

    @Test
    void anAddressInUseIsOneLineBeforeAnythingIsMade() throws Exception {
        Path good = tmp.resolve("good.img");
        long[] pid = new long[1];
        int port = goodImage(good, pid);
        subreaper.off();
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress("127.0.0.1", port));
            Leftovers before = Leftovers.snapshot();
            String line = Cryo.restartExpectingFailure(cleanup, good, pid[0]).assertOneLineError();
            assertTrue(line.contains("127.0.0.1:" + port) && line.contains("in use"), line);
            assertFalse(Procfs.exists(pid[0]), "restart left pid " + pid[0]);
            assertEquals(1, TcpListenTest.listeners(port), "only the test's own listener on port " + port);
            before.assertNone(cleanup, "restart with port " + port + " taken");
        }
    }

    private Path rewrite(Path good, String name, UnaryOperator<ImageRecord> change) {
        Path out = tmp.resolve(name);
        TreeFixtures.rewrite(good, out, rs -> rs.stream().map(change).toList());
        return out;
    }

    /** A copy of in whose TCP_STREAM's recv_len field says `more` bytes more than its queue holds, sealed again. */
    private static void patchRecvLen(Path in, Path out, int more) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(in)).order(ByteOrder.LITTLE_ENDIAN);
        int pos = Head.MAGIC.length;
        boolean found = false;
        while (true) {
            int type = b.getInt(pos), len = b.getInt(pos + 4), body = pos + 8;
            if (type == RecordType.TAIL.code) break;
            if (type == RecordType.TCP_STREAM.code) {
                // socket u32, snd_seq u64, rcv_seq u64, mss, wscales, tcpi_options (4 x u32), timestamp u64, window 5 x u64, send_len, unsent, recv_len
                int at = body + 4 + 8 + 8 + 16 + 8 + 40 + 8;
                b.putInt(at, b.getInt(at) + more);
                found = true;
            }
            pos = body + ((len + 7) & ~7);
        }
        assertTrue(found, "a TCP_STREAM record in " + in);
        b.putLong(pos + 8, pos);
        b.putInt(pos + 16, ImageReader.checksum(java.lang.foreign.MemorySegment.ofArray(b.array()), pos));
        Files.write(out, b.array());
    }
}
