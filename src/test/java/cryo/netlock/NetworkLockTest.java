package cryo.netlock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The lock on live sockets, without a checkpoint: a Python server's sockets (found as a checkpoint finds
 * them, by the inodes of its fds) are locked through the API. A client's data sent meanwhile is not
 * delivered and the client sees no reset, only its own retransmissions; once the lock is lifted the data
 * arrives by retransmission and the connection carries on. A new client's connect meanwhile is not refused:
 * its SYN is retransmitted, and it completes after the lift. IPv4, IPv6, and a dual-stack listener on :: whose
 * IPv4 clients the kernel shows as ::ffff:127.0.0.1.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class NetworkLockTest {
    @RegisterExtension
    @Order(1)
    final Cleanup cleanup = new Cleanup();

    @RegisterExtension
    @Order(2)
    final NftTables tables = new NftTables();

    /** tcpi_state (include/net/tcp_states.h) */
    private static final int TCP_ESTABLISHED = 1, TCP_SYN_SENT = 2;

    @BeforeEach
    void nft() {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("nft");
    }

    private NetworkLock lockServer(Proc server, int expected) throws IOException {
        int pid = (int) server.pid();
        List<LockedSocket> sockets = TreeSockets.tcp(pid, TreeSockets.inodes(List.of(pid)));
        assertEquals(expected, sockets.size(), "the server's TCP sockets: " + sockets);
        NetworkLock lock = NetworkLock.install("test server " + pid, sockets, line -> System.out.println("[lock] " + line));
        assertTrue(NftTables.exists(lock.table()), lock.table() + " is installed");
        return lock;
    }

    @ParameterizedTest
    @CsvSource({"127.0.0.1, 127.0.0.1", "::1, ::1", "::, 127.0.0.1"})
    void anEstablishedConnectionPausesAndCarriesOn(String bind, String connect) throws IOException {
        Proc server = Loopback.server(cleanup, bind);
        int port = Loopback.port(server);
        Proc client = Loopback.client(cleanup, connect, port, "block");
        client.await("CONNECTED", l -> l.startsWith("CONNECTED "));
        server.await("ACCEPTED", l -> l.startsWith("ACCEPTED "));
        client.send("send before");
        server.await("LINE before", l -> l.equals("LINE before"));
        client.send("recv");
        assertEquals("GOT before", client.await("GOT", l -> l.startsWith("GOT ")));

        NetworkLock lock = lockServer(server, 2);   // the listener and the accepted connection
        try {
            client.send("send during");
            int[] r = Loopback.retrans(client);
            assertTrue(r[0] > 0, "the client retransmits: its data was dropped, not acknowledged");
            assertEquals(TCP_ESTABLISHED, r[1], "the client's connection is still established");
            assertEquals(0, r[2], "no error on the client's socket (ECONNRESET is 104)");
            assertFalse(server.out().all().contains("LINE during"), "the server got nothing during the lock");
        } finally {
            lock.close();
        }
        assertFalse(NftTables.exists(lock.table()), "the table is gone after the lift");
        server.await("LINE during", l -> l.equals("LINE during"));
        client.send("recv");
        assertEquals("GOT during", client.await("GOT", l -> l.startsWith("GOT ")));
        client.send("send after");
        server.await("LINE after", l -> l.equals("LINE after"));
        client.send("recv");
        assertEquals("GOT after", client.await("GOT", l -> l.startsWith("GOT ")));
    }

    @ParameterizedTest
    @CsvSource({"127.0.0.1, 127.0.0.1", "::1, ::1", "::, 127.0.0.1"})
    void aConnectToALockedListenerWaitsInsteadOfBeingRefused(String bind, String connect) throws IOException {
        Proc server = Loopback.server(cleanup, bind);
        int port = Loopback.port(server);
        NetworkLock lock = lockServer(server, 1);
        Proc client;
        try {
            client = Loopback.client(cleanup, connect, port, "nonblock");
            client.await("CONNECTING", l -> l.equals("CONNECTING"));
            client.send("retrans");
            String[] f = client.await("RETRANS", l -> l.startsWith("RETRANS ")).split(" ");
            assertTrue(Integer.parseInt(f[1]) > 0, "the SYN is retransmitted");
            assertEquals(TCP_SYN_SENT, Integer.parseInt(f[3]), "the connect is still under way");
            assertEquals(0, Integer.parseInt(f[5]), "not refused (ECONNREFUSED is 111)");
            assertFalse(server.out().all().stream().anyMatch(l -> l.startsWith("ACCEPTED")), "nothing accepted during the lock");
        } finally {
            lock.close();
        }
        assertFalse(NftTables.exists(lock.table()), "the table is gone after the lift");
        client.send("finish");
        assertEquals("CONNECT 0", client.await("CONNECT", l -> l.startsWith("CONNECT ")));
        server.await("ACCEPTED", l -> l.startsWith("ACCEPTED "));
        client.send("send hello");
        server.await("LINE hello", l -> l.equals("LINE hello"));
    }
}
