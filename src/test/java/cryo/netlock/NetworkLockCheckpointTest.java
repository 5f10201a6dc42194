package cryo.netlock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageReader;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The lock through cryo itself, on a Python server in the tree with a client outside connected to it. Until
 * cryo checkpoints TCP sockets, the server's are passed as --external (the checkpoint then goes through and
 * takes the lock on them) or refused. A checkpoint that fails after the lock leaves no table and the server
 * serving; a committed checkpoint leaves its table held, and the restart of its image lifts it even when it
 * fails (a truncated image, a refused restart); a bad table name in NET_LOCK is a one-line error; the table
 * of a cryo killed while it held the lock (CRYO_FAULT=hang-after-lock, then SIGKILL) and tables of killed
 * checkpoints made by hand are swept by the next cryo, and the server it locked serves on.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class NetworkLockCheckpointTest {
    @RegisterExtension
    @Order(1)
    final Cleanup cleanup = new Cleanup();

    @RegisterExtension
    @Order(2)
    final NftTables tables = new NftTables();

    @TempDir
    Path tmp;

    @BeforeEach
    void nft() {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("nft");
    }

    private record Served(Proc server, Proc client, List<String> externals, int port) {
    }

    /** The server with one client connected and one line echoed; the --external options for its sockets. */
    private Served served() throws IOException {
        Proc server = Loopback.server(cleanup, "127.0.0.1");
        int port = Loopback.port(server);
        Proc client = Loopback.client(cleanup, "127.0.0.1", port, "block");
        client.await("CONNECTED", l -> l.startsWith("CONNECTED "));
        server.await("ACCEPTED", l -> l.startsWith("ACCEPTED "));
        echo(server, client, "before");
        List<String> externals = new ArrayList<>();
        try (var fds = Files.list(Path.of("/proc/" + server.pid() + "/fd"))) {
            for (Path fd : fds.toList()) {
                String link = Files.readSymbolicLink(fd).toString();
                if (link.startsWith("socket:")) externals.addAll(List.of("--external", link));
            }
        }
        assertEquals(4, externals.size(), "the listener and the connection: " + externals);
        return new Served(server, client, externals, port);
    }

    private static void echo(Proc server, Proc client, String word) {
        client.send("send " + word);
        server.await("LINE " + word, l -> l.equals("LINE " + word));
        client.send("recv");
        assertEquals("GOT " + word, client.await("GOT", l -> l.startsWith("GOT ")));
    }

    private String[] checkpointArgs(Served s, Path image, boolean external) {
        List<String> a = new ArrayList<>(List.of("checkpoint", Long.toString(s.server().pid()), "-o", image.toString()));
        if (external) a.addAll(s.externals());
        return a.toArray(String[]::new);
    }

    @ParameterizedTest
    @ValueSource(strings = {"after-pages", "refused"})
    void aFailedCheckpointLiftsItsLockAndTheServerServesOn(String how) throws IOException {
        Served s = served();
        Path image = tmp.resolve("f.img");
        Cryo.Result r;
        // refused once the lock is on: a listener with a connection not accepted yet (the server takes one at a time)
        try (java.net.Socket waiting = how.equals("refused") ? new java.net.Socket("127.0.0.1", s.port()) : null) {
            r = how.equals("refused")
                    ? Cryo.run(cleanup, checkpointArgs(s, image, false))
                    : Cryo.runEnv(cleanup, Map.of("CRYO_FAULT", how), checkpointArgs(s, image, true));
        }
        assertTrue(r.exit() != 0 && r.stderr().contains(how.equals("refused") ? "socket" : how) && !r.stderr().contains("Exception"), r.describe());
        assertEquals(Set.of(), tables.left(), "no lock table left");
        Procfs.assertRunningUntraced(s.server().pid(), "the server after a failed checkpoint");
        echo(s.server(), s.client(), "after");
    }

    @Test
    void aHeldLockIsLiftedByTheRestartOfItsImageEvenAFailedOne() throws IOException {
        Served s = served();
        Path image = tmp.resolve("ok.img");
        Cryo.run(cleanup, checkpointArgs(s, image, true)).assertOk();
        NetLockRecord record = LockRelease.early(MemorySegment.ofArray(Files.readAllBytes(image)));
        assertTrue(record != null, "the image has a NET_LOCK record right after HEAD");
        tables.register(record.table());
        assertEquals(137, s.server().awaitExit(Timeouts.EXIT), "the server was killed");
        String shown = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        Matcher m = Pattern.compile("(?m)^NET_LOCK +table=(cryo-lock-[0-9-]+) sockets=\\[(.*)]$").matcher(shown);
        assertTrue(m.find(), "cryo show prints NET_LOCK:\n" + shown);
        String table = m.group(1);
        assertEquals(record.table(), table);
        assertTrue(m.group(2).contains("listen 127.0.0.1:") && m.group(2).contains(" <-> 127.0.0.1:"), "the listener and the connection: " + m.group(2));
        assertTrue(NftTables.nft("list", "table", "inet", table).contains("chain held"), "the lock is held after cryo exits");

        // the tree is away: the client's data is dropped, no reset comes back
        s.client().send("send away");
        int[] rt = Loopback.retrans(s.client());
        assertTrue(rt[0] > 0, "the client retransmits");
        assertEquals(0, rt[2], "no error on the client's socket");

        // a truncated image: its NET_LOCK is read before the image is found bad
        Path cut = tmp.resolve("cut.img");
        byte[] bytes = Files.readAllBytes(image);
        Files.write(cut, Arrays.copyOf(bytes, bytes.length - 24));
        assertTrue(Cryo.run(cleanup, "restart", cut.toString()).assertOneLineError().contains("truncated"));
        assertFalse(NftTables.exists(table), "a failed restart of a truncated image lifts the lock");

        // a restart that is refused (the sockets were --external: no --inherit-fd given)
        NftTables.nft("add", "table", "inet", table);
        Cryo.Result refused = Cryo.restartExpectingFailure(cleanup, image, s.server().pid());
        assertTrue(refused.exit() != 0, refused.describe());
        assertFalse(NftTables.exists(table), "a refused restart lifts the lock");
        // and the restart of an image whose lock is gone already goes as far as it did
        Cryo.Result again = Cryo.restartExpectingFailure(cleanup, image, s.server().pid());
        assertEquals(refused.stderr(), again.stderr());

        // a NET_LOCK naming something else than a cryo lock table: refused, nothing deleted
        Path bad = tmp.resolve("bad.img");
        String evil = table.replace("cryo-lock", "cryo_lock");
        NftTables.nft("add", "table", "inet", evil);
        try {
            writeWithTable(image, bad, table, evil);
            String line = Cryo.run(cleanup, "restart", bad.toString()).assertOneLineError();
            assertTrue(line.contains("NET_LOCK") && line.contains("'table'"), line);
            assertTrue(NftTables.nft("list", "tables", "inet").contains("table inet " + evil + "\n"), "the table the bad record names is untouched");
        } finally {
            NftTables.nft("delete", "table", "inet", evil);
        }
    }

    /** A copy of the image whose table name is another of the same length, with its TAIL checksum redone. */
    private static void writeWithTable(Path image, Path out, String table, String other) throws IOException {
        byte[] b = Files.readAllBytes(image);
        byte[] from = table.getBytes(StandardCharsets.US_ASCII), to = other.getBytes(StandardCharsets.US_ASCII);
        int at = indexOf(b, from);
        assertTrue(at > 0, "the table name is in the image");
        System.arraycopy(to, 0, b, at, to.length);
        int crc = ImageReader.checksum(MemorySegment.ofArray(b), b.length - 24);
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(b.length - 8, crc);
        Files.write(out, b);
    }

    private static int indexOf(byte[] b, byte[] what) {
        outer:
        for (int i = 0; i + what.length <= b.length; i++) {
            for (int j = 0; j < what.length; j++) if (b[i + j] != what[j]) continue outer;
            return i;
        }
        return -1;
    }

    @Test
    void aCryoKilledWhileHoldingTheLockHasItsJanitorLiftIt() throws IOException, InterruptedException {
        Served s = served();
        List<String> args = new ArrayList<>(List.of(checkpointArgs(s, tmp.resolve("k.img"), true)));
        ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), args.toArray(String[]::new))).directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of("CRYO_FAULT", "hang-after-lock"));
        Proc cryo = cleanup.start("cryo", pb);
        String line = cryo.err().await("the lock", l -> l.contains("hang-after-lock: "), Timeouts.CRYO);
        String table = line.substring(line.indexOf("hang-after-lock: ") + 17).trim();
        tables.register(table);
        assertTrue(NftTables.exists(table), "the lock is taken");
        Path journal = journalOf(cryo.pid());
        cleanup.deleteLater(journal);
        assertTrue(Files.readString(journal).contains("+ lock " + table + "\n"), "the table is journaled: " + Files.readString(journal));
        cryo.process().destroyForcibly();   // SIGKILL, in the middle of the checkpoint
        assertEquals(137, cryo.awaitExit(Timeouts.EXIT));
        Procfs.assertRunningUntraced(s.server().pid(), "the server once its cryo is killed");
        // the janitor (a shell that saw its pipe from cryo close without "done") runs cryo __sweep
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while ((NftTables.exists(table) || Files.exists(journal)) && System.nanoTime() < deadline) Thread.sleep(50);
        assertFalse(NftTables.exists(table), "the janitor of the killed cryo lifted its lock");
        assertFalse(Files.exists(journal), "the janitor removed the journal once it was undone");
        s.client().send("send stuck");
        s.server().await("LINE stuck", l -> l.equals("LINE stuck"));
        s.client().send("recv");
        assertEquals("GOT stuck", s.client().await("GOT", l -> l.startsWith("GOT ")));
        echo(s.server(), s.client(), "after");
    }

    /** The journal of cryo process pid (cryo.janitor.Journal): /run/cryo/journal/PID-STARTTIME. */
    private static Path journalOf(long pid) throws IOException {
        String start = Files.readString(Path.of("/proc/" + pid + "/stat")).split("\\) ")[1].split(" ")[19];
        return Path.of("/run/cryo/journal/" + pid + "-" + start);
    }

    @Test
    void tablesOfKilledCheckpointsAreSweptByTheNextCryo() throws IOException, InterruptedException {
        Process gone = new ProcessBuilder("true").start();
        assertTrue(gone.waitFor(30, TimeUnit.SECONDS));
        String owner = "cryo-lock-" + gone.pid() + "-99999999999-";
        String stale = owner + "1", held = owner + "2";
        long me = ProcessHandle.current().pid();
        String live = "cryo-lock-" + me + "-" + Files.readString(Path.of("/proc/self/stat")).split("\\) ")[1].split(" ")[19] + "-4242";
        tables.register(held);
        // what a killed cryo leaves whose janitor was killed too: its journal naming each table it made, one never made
        String markerOnly = owner + "3";
        Path journal = Path.of("/run/cryo/journal/" + gone.pid() + "-99999999999");
        cleanup.deleteLater(journal);
        journal(journal, stale, held, markerOnly);
        NftTables.nft("add", "table", "inet", held);
        NftTables.nft("add", "chain", "inet", held, "held");
        NftTables.nft("add", "table", "inet", live);

        // cryo restart, failing as early as it can (an image that is none)
        NftTables.nft("add", "table", "inet", stale);
        Path junk = Files.writeString(tmp.resolve("junk.img"), "not an image");
        Cryo.Result r = Cryo.run(cleanup, "restart", junk.toString());
        r.assertOneLineError();
        // the sweep runs beside the restart, which may end first
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (Files.exists(journal) && System.nanoTime() < deadline) Thread.sleep(20);
        assertFalse(NftTables.exists(stale), "the restart swept the table of a dead owner: " + r.describe());
        assertTrue(NftTables.exists(held), "a held lock stays for its image's restart");
        assertTrue(NftTables.exists(live), "a lock whose owner runs stays");
        assertFalse(Files.exists(journal), "the sweep removed the journal");

        // cryo checkpoint, even with --leave-running
        NftTables.nft("add", "table", "inet", stale);
        journal(journal, stale);
        Proc sleep = Fixtures.startSleep(cleanup);
        Cryo.checkpoint(cleanup, sleep.pid(), tmp.resolve("sleep.img"), "--leave-running");
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (Files.exists(journal) && System.nanoTime() < deadline) Thread.sleep(20);
        assertFalse(NftTables.exists(stale), "the checkpoint swept the table of a dead owner");
        assertFalse(Files.exists(journal));
        assertTrue(NftTables.exists(held) && NftTables.exists(live));
    }

    private static void journal(Path journal, String... tables) throws IOException {
        Files.createDirectories(journal.getParent());
        StringBuilder sb = new StringBuilder();
        for (String t : tables) sb.append("+ lock ").append(t).append('\n');
        Files.writeString(journal, sb);
    }
}
