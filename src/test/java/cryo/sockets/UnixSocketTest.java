package cryo.sockets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import cryo.image.ImageRecord;
import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
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
 * Unix sockets of the tree's own (src/test/c/unix_sockets.c, which checks itself): socketpairs of every type
 * with data queued both ways and message boundaries, shutdown halves, SO_PASSCRED with credentials in the
 * queue, buffer sizes and SO_PEEK_OFF, a peer closed with data left, a pair between two processes, a named
 * listener with an accepted connection and two waiting in its accept queue, abstract names; checkpoint
 * --leave-running leaves every queue as it was; what cannot be taken is refused naming it; bad socket records
 * are rejected before anything is created.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class UnixSocketTest {
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
    }

    /** Every scenario that restarts, with its listener in dir. */
    static List<String> scenarios(Path dir) {
        return List.of("stream", "dgram", "seqpacket", "shutdown", "options", "closed", "fork", "listen:" + dir, "abstract", "dgramnamed:" + dir);
    }

    record Started(Proc proc, List<Long> pids) {
        long pid() {
            return proc.pid();
        }
    }

    Started start(List<String> scenarios) {
        Path exe = tmp.resolve("unix_sockets");
        if (!Files.isExecutable(exe)) Fixtures.compile(tmp, "unix_sockets", Fixtures.Build.PIE);
        List<String> cmd = new ArrayList<>(List.of(exe.toString()));
        cmd.addAll(scenarios);
        Instant t0 = Instant.now();
        Proc p = cleanup.start("unix_sockets", new ProcessBuilder(cmd).directory(tmp.toFile()));
        String l = p.await("READY", x -> x.startsWith("READY ") || x.startsWith("SETUP-FAIL"));
        if (l.startsWith("SETUP-FAIL")) fail("the fixture could not set up: " + l);
        List<Long> kids = new ArrayList<>(TreeFixtures.children(p.pid()));
        subreaper.foreign(cleanup, kids, t0, "unix_sockets child");
        List<Long> pids = new ArrayList<>(List.of(p.pid()));
        pids.addAll(kids);
        return new Started(p, pids);
    }

    /** Sends cmd (verify or peek) and expects "OK name" for every scenario and "DONE 0". */
    static void expectOk(Proc p, String cmd, String when, List<String> names) {
        p.send(cmd);
        List<String> ok = new ArrayList<>(), fails = new ArrayList<>();
        while (true) {
            String l = p.await(cmd + " (" + when + ")", x -> x.startsWith("OK ") || x.startsWith("FAIL ") || x.startsWith("DONE "));
            if (l.startsWith("OK ")) ok.add(l.substring(3));
            else if (l.startsWith("FAIL ")) fails.add(l);
            else break;
        }
        if (!fails.isEmpty()) fail(when + ": the fixture found problems:\n  " + String.join("\n  ", fails) + "\n" + p.tails());
        assertEquals(names, ok, when + ": every scenario checked");
    }

    static void quit(Proc p) {
        p.send("quit");
        p.await("BYE", l -> l.equals("BYE"));
    }

    List<Long> checkpointAndAwaitGone(Started s, Path image) {
        Cryo.checkpoint(cleanup, s.pid(), image);
        List<Long> pids = TreeFixtures.pids(image);
        assertEquals(s.pids().stream().sorted().toList(), pids.stream().sorted().toList(), "the image holds the fixture and its child");
        assertEquals(128 + Os.SIGKILL, s.proc().awaitExit(Timeouts.EXIT), "the fixture is killed after the checkpoint");
        TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(30));
        return pids;
    }

    Proc restart(Path image, List<Long> pids) {
        Instant t0 = Instant.now();
        Proc r = Cryo.startRestart(cleanup, image, pids.getFirst());
        subreaper.foreign(cleanup, pids.subList(1, pids.size()), t0, "restored unix_sockets child");
        return r;
    }

    @Test
    void fixtureVerifiesItselfWithoutCryo() {
        List<String> names = scenarios(tmp);
        Started s = start(names);
        expectOk(s.proc(), "peek", "without cryo", names);
        expectOk(s.proc(), "verify", "without cryo", names);
        quit(s.proc());
    }

    @Test
    void everyShapeSurvivesRestartWithItsQueues() {
        List<String> names = scenarios(tmp);
        Started s = start(names);
        Path image = tmp.resolve("sockets.img");
        List<Long> pids = checkpointAndAwaitGone(s, image);
        List<String> show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout().lines().filter(l -> l.startsWith("SOCKET_UNIX ")).toList();
        assertEquals(2, show.stream().filter(l -> l.contains(" waiting_in=")).count(), "two connections wait in the accept queue: " + show);
        assertTrue(show.stream().anyMatch(l -> l.contains("state=listening name=" + tmp.resolve("listen.sock") + " file=\"0640 ")), "the listener, its file's mode: " + show);
        Path sock = tmp.resolve("listen.sock");
        assertTrue(Files.exists(sock), "the killed listener left its socket file behind: restart replaces it");
        Proc r = restart(image, pids);
        expectOk(r, "verify", "after restart", names);
        quit(r);
    }

    @Test
    void leaveRunningLeavesEveryQueueAsItWas() {
        List<String> names = scenarios(tmp);
        Started s = start(names);
        Path image = tmp.resolve("sockets.img");
        Cryo.checkpoint(cleanup, s.pid(), image, "--leave-running");
        expectOk(s.proc(), "peek", "after checkpoint --leave-running", names);
        expectOk(s.proc(), "verify", "after checkpoint --leave-running", names);
        quit(s.proc());
        assertEquals(0, s.proc().awaitExit(Timeouts.EXIT));
        TreeFixtures.awaitAllGone(s.pids(), Duration.ofSeconds(30));
        // the socket file is gone at restart: it is made again, with its mode
        try {
            Files.deleteIfExists(tmp.resolve("listen.sock"));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        Proc r = restart(image, s.pids());
        expectOk(r, "verify", "restart of the --leave-running image", names);
        quit(r);
    }

    @Test
    void socketsThatCannotBeTakenAreRefusedByName() {
        Path listener = tmp.resolve("server.sock");
        Started server = start(List.of("server:" + listener));
        Started s = start(List.of("rights", "connect:" + listener, "waitdata:" + tmp, "oob"));
        server.proc().send("accept");
        server.proc().await("ACCEPTED 1", l -> l.equals("ACCEPTED 1"));
        Cryo.Result r = Cryo.run(cleanup, "checkpoint", Long.toString(s.pid()), "-o", tmp.resolve("x.img").toString());
        assertTrue(r.exit() != 0, "checkpoint refuses: " + r.describe());
        String err = r.stderr();
        System.out.println("[UnixSocketTest] refused: " + err);
        assertTrue(err.contains("SCM_RIGHTS"), "the fd in flight is named: " + err);
        assertTrue(err.contains(listener.toString()) && err.contains("task " + server.pid() + " (unix_sockets)"),
                "the peer outside is named by its path and the process holding it: " + err);
        assertTrue(err.contains("that sent data into a connection its listener has not accepted yet"), "data in a connection not accepted: " + err);
        assertTrue(err.contains("with out-of-band data (MSG_OOB) in its queue"), "out-of-band data: " + err);
        assertFalse(Files.exists(tmp.resolve("x.img")), "no image is left");
        assertTrue(s.proc().isAlive(), "the refused tree runs on");
        // a connection the server outside has not accepted: named by the listener it waits in
        Started waiting = start(List.of("connect:" + listener));
        Cryo.Result w = Cryo.run(cleanup, "checkpoint", Long.toString(waiting.pid()), "-o", tmp.resolve("y.img").toString());
        System.out.println("[UnixSocketTest] refused: " + w.stderr());
        assertTrue(w.exit() != 0 && w.stderr().contains("waiting in the accept queue of a listening Unix stream socket at " + listener)
                && w.stderr().contains("task " + server.pid() + " (unix_sockets)"), w.describe());
        quit(waiting.proc());
        quit(s.proc());
        quit(server.proc());
    }

    @Test
    void externalConnectionIsMadeAgainToThePeersName() {
        Path listener = tmp.resolve("server.sock");
        Started server = start(List.of("server:" + listener));
        Started s = start(List.of("connect:" + listener));
        server.proc().send("accept");
        server.proc().await("ACCEPTED 1", l -> l.equals("ACCEPTED 1"));
        String link;
        try {
            link = Files.readSymbolicLink(Path.of("/proc/" + s.pid() + "/fd/3")).toString();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        String inode = link.substring("socket:[".length(), link.length() - 1);
        Path image = tmp.resolve("external.img");
        Cryo.checkpoint(cleanup, s.pid(), image, "--external", "unix:" + inode);
        assertEquals(128 + Os.SIGKILL, s.proc().awaitExit(Timeouts.EXIT));
        TreeFixtures.awaitAllGone(s.pids(), Duration.ofSeconds(30));
        Proc r = restart(image, s.pids());
        expectOk(r, "verify", "after restart", List.of("connect:" + listener));
        server.proc().send("accept");
        server.proc().await("ACCEPTED 1 (the restored connection)", l -> l.equals("ACCEPTED 1"));
        quit(r);
        quit(server.proc());
    }

    /**
     * A container (unshare: its own pid, mount, UTS and IPC namespaces; cryo's network namespace) whose init is
     * the fixture: its listener's path is bound again inside the container's restored mount namespace. The
     * restarted container is detached, so SIGUSR1 has the fixture verify into a file.
     */
    @Test
    void aContainersSocketsComeBackInItsMountNamespace() {
        Fixtures.assumeTool("unshare");
        Path exe = tmp.resolve("unix_sockets");
        if (!Files.isExecutable(exe)) Fixtures.compile(tmp, "unix_sockets", Fixtures.Build.PIE);
        Path out = tmp.resolve("verify.out");
        List<String> names = List.of("stream", "seqpacket", "listen:" + tmp, "abstract");
        List<String> cmd = new ArrayList<>(List.of("unshare", "--fork", "--pid", "--mount-proc", "--uts", "--ipc", exe.toString(), "--signal", out.toString()));
        cmd.addAll(names);
        Instant t0 = Instant.now();
        Proc u = cleanup.start("unshare", new ProcessBuilder(cmd).redirectInput(Path.of("/dev/null").toFile()));
        u.await("READY", l -> l.startsWith("READY "));
        long init = TreeFixtures.children(u.pid()).getFirst();
        cleanup.foreign(init, t0, "container init");
        subreaper.track(List.of(init));
        Path image = tmp.resolve("container.img");
        Cryo.checkpoint(cleanup, init, image);
        u.awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(List.of(init), Duration.ofSeconds(30));
        long clone = Cryo.detached(cleanup, "restart", "-d", image.toString());
        subreaper.track(List.of(clone));
        Os.kill(clone, 10);   // SIGUSR1
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        List<String> lines = List.of();
        while (lines.stream().noneMatch(l -> l.startsWith("DONE "))) {
            if (System.nanoTime() > deadline) fail("the restored container did not verify: " + lines);
            Procfs.sleep(Duration.ofMillis(20));
            try {
                lines = Files.exists(out) ? Files.readAllLines(out) : List.of();
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        }
        assertEquals(names.stream().map(n -> "OK " + n).toList(), lines.subList(0, lines.size() - 1), "every scenario inside the container: " + lines);
        assertEquals("DONE 0", lines.getLast());
        Os.kill(clone, Os.SIGKILL);
        Subreaper.reap(List.of(clone));
        Procfs.awaitGone(clone, Timeouts.EXIT);
    }

    @Test
    void badSocketRecordsAreRejectedBeforeAnythingIsCreated() {
        Started s = start(List.of("stream", "dgram"));
        Path good = tmp.resolve("good.img");
        List<Long> pids = checkpointAndAwaitGone(s, good);
        List<ImageRecord> records = TreeFixtures.withRecords(good, ArrayList::new);
        UnixSocketRecord first = records.stream().filter(x -> x instanceof UnixSocketRecord u && u.sockType() == cryo.sys.Sock.SOCK_STREAM)
                .map(x -> (UnixSocketRecord) x).findFirst().orElseThrow();
        SocketQueueRecord queue = records.stream().filter(x -> x instanceof SocketQueueRecord q && q.socket() == first.objref())
                .map(x -> (SocketQueueRecord) x).findFirst().orElseThrow();
        subreaper.off();
        Path tooLong = tmp.resolve("too-long.img");
        TreeFixtures.rewrite(good, tooLong, rs -> rs.stream().map(x -> x instanceof SocketQueueRecord q && q.socket() == queue.socket()
                ? new SocketQueueRecord(queue.socket(), List.of(new SocketQueueRecord.Message(new byte[300000], new byte[0], null))) : x).toList());
        Path noPeer = tmp.resolve("no-peer.img");
        TreeFixtures.rewrite(good, noPeer, rs -> rs.stream().map(x -> x instanceof UnixSocketRecord u && u.objref() == first.objref() ? TreeFixtures.with(u, "peer", 9999) : x).toList());
        for (Path bad : List.of(tooLong, noPeer)) {
            Leftovers before = Leftovers.snapshot();
            String line = Cryo.restartExpectingFailure(cleanup, bad, pids.getFirst()).assertOneLineError();
            System.out.println("[UnixSocketTest] " + bad.getFileName() + ": " + line);
            assertTrue(line.contains(bad == tooLong ? "more than its peer's send buffer" : "9999"), line);
            for (long p : pids) assertFalse(Procfs.exists(p), "restart of " + bad.getFileName() + " left pid " + p);
            before.assertNone(cleanup, "restart of " + bad.getFileName());
        }
    }
}
