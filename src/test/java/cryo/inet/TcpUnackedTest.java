package cryo.inet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Data sent but not acknowledged: an nftables rule of the test's own drops the data the server sends to the
 * client (not its acknowledgments), so its answer waits in the send queue as sent (SIOCOUTQ, none of it SIOCOUTQNSD). Checkpointed and
 * killed with it, the rule removed, restarted: the restored socket holds it as sent and retransmits it, and
 * the client gets the answer in its connection and goes on.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class TcpUnackedTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final String CLIENT = """
            import socket, sys
            s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
            f = s.makefile('rb', buffering=0)
            print('LOCAL', s.getsockname()[1], flush=True)
            sys.stdin.readline()
            try:
                for i in range(6):
                    s.sendall(b'req %d\\n' % i)
                    if i == 0:
                        print('SENT', flush=True)
                    got = f.readline()
                    if got != b'echo req %d\\n' % i:
                        print('WRONG', i, got, flush=True)
                        sys.exit(1)
            except Exception as e:
                print('ERROR', repr(e), flush=True)
                sys.exit(1)
            print('DONE', flush=True)
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("nft");
        Fixtures.assumeTool("ss");
    }

    @Test
    void sentDataNotAcknowledgedIsSentAgain() throws Exception {
        Path python = Fixtures.python();
        Proc s = cleanup.start("server", new ProcessBuilder(python.toString(), TcpPrograms.write(tmp, "server.py", TcpPrograms.SERVER).toString(), "4"));
        String port = s.await("PORT", l -> l.startsWith("PORT ")).split(" ")[1];
        Proc c = cleanup.start("client", new ProcessBuilder(python.toString(), Files.writeString(tmp.resolve("c.py"), CLIENT).toString(), port));
        String local = c.await("LOCAL", l -> l.startsWith("LOCAL ")).split(" ")[1];
        String table = "cryo_tcp_unacked_" + ProcessHandle.current().pid();
        try {
            nft("add", "table", "ip", table);
            nft("add", "chain", "ip", table, "in", "{ type filter hook input priority 0 ; }");   // at input: dropped at output the segment would count as not sent (tcp_transmit_skb fails)
            // segments with data only (longer than a bare header with timestamps): the server's acknowledgments
            // pass, so the client's request is acknowledged and the client stays silent until the answer comes
            nft("add", "rule", "ip", table, "in", "ip", "saddr", "127.0.0.1", "tcp", "sport", port, "tcp", "dport", local, "ip", "length", "gt", "52", "drop");
            c.send("go");
            c.await("SENT", l -> l.equals("SENT"));
            awaitSendQ(port, local, true);
            awaitSendQ(local, port, false);
            Path image = tmp.resolve("s.img");
            Cryo.checkpoint(cleanup, s.pid(), image);
            s.awaitExit(Timeouts.EXIT);
            List<ImageRecord> records = TreeFixtures.withRecords(image, ArrayList::new);
            TcpStreamRecord t = records.stream().filter(r -> r instanceof TcpStreamRecord).map(r -> (TcpStreamRecord) r).findFirst().orElseThrow();
            assertEquals("echo req 0\n", new String(t.sendQueue(), StandardCharsets.US_ASCII), "the answer sent, not acknowledged");
            assertEquals(0, t.unsent(), "all of it was sent");
            nft("delete", "table", "ip", table);
            Proc r = Cryo.startRestart(cleanup, image, s.pid());
            assertEquals("DONE", c.await("DONE", l -> l.equals("DONE") || l.startsWith("ERROR") || l.startsWith("WRONG")), c.tails() + r.tails());
            assertEquals(0, c.awaitExit(Timeouts.EXIT), c.tails());
            r.await("EOF", l -> l.equals("EOF"));
            assertEquals(0, r.awaitExit(Timeouts.EXIT), r.tails());
        } finally {
            new ProcessBuilder("nft", "delete", "table", "ip", table).redirectErrorStream(true).start().waitFor(30, TimeUnit.SECONDS);
        }
    }

    private static void nft(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("nft"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0, cmd + ": " + out);
    }

    /** Waits until the sending side of the connection port -> peer has bytes in its send queue (ss Send-Q), or none, up to 10 s. */
    private static void awaitSendQ(String port, String peer, boolean some) throws IOException, InterruptedException {
        String last = "";
        for (int i = 0; i < 200; i++) {
            Process ss = new ProcessBuilder("ss", "-tnH", "sport = :" + port + " and dport = :" + peer).redirectErrorStream(true).start();
            last = new String(ss.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            assertTrue(ss.waitFor(30, TimeUnit.SECONDS));
            String[] f = last.split("\\s+");
            if (f.length > 2 && f[2].equals("0") != some) return;
            Thread.sleep(50);
        }
        throw new AssertionError("the send queue of " + port + " -> " + peer + " is not " + (some ? "holding data" : "empty") + ": " + last);
    }
}
