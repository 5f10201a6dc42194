package cryo.sockets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

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
 * Unix sockets and the paths they are bound to, with real Python programs: a relative name is refused at
 * checkpoint; a listener or datagram socket whose file was unlinked after bind comes back connected, its file
 * gone again; one whose directory is gone is refused; a container's connections are made in its own mount
 * namespace (a path that differs between host and container); a live listener with a full accept queue at the
 * path of a socket of the image fails the restart at once and is left alone.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class UnixSocketPathTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final String PROGRAM = """
            import os, socket, sys

            mode, d = sys.argv[1], sys.argv[2]
            U = socket.AF_UNIX
            if mode == 'relative':
                os.chdir(d)
                s = socket.socket(U, socket.SOCK_STREAM); s.bind('rel.sock'); s.listen(1)
            elif mode == 'relsender':
                r = socket.socket(U, socket.SOCK_DGRAM); r.bind(d + '/recv.sock')
                os.chdir(d)
                w = socket.socket(U, socket.SOCK_DGRAM); w.bind('snd.sock'); w.sendto(b'x', d + '/recv.sock')
            elif mode == 'unlinked':
                l = socket.socket(U, socket.SOCK_STREAM); l.bind(d + '/l.sock'); l.listen(1)
                c = socket.socket(U, socket.SOCK_STREAM); c.connect(d + '/l.sock')
                a, _ = l.accept()
                r = socket.socket(U, socket.SOCK_DGRAM); r.bind(d + '/d.sock')
                w = socket.socket(U, socket.SOCK_DGRAM); w.connect(d + '/d.sock')
                os.unlink(d + '/l.sock'); os.unlink(d + '/d.sock')
                c.send(b'c2a'); w.send(b'w2r')
            elif mode == 'dirgone':
                os.mkdir(d + '/sub')
                r = socket.socket(U, socket.SOCK_DGRAM); r.bind(d + '/sub/x.sock')
                w = socket.socket(U, socket.SOCK_DGRAM); w.connect(d + '/sub/x.sock')
                os.unlink(d + '/sub/x.sock'); os.rmdir(d + '/sub')
            elif mode == 'listen':
                l = socket.socket(U, socket.SOCK_STREAM); l.bind(d + '/l.sock'); l.listen(1)
            elif mode == 'full':
                # a live listener whose accept queue is full: a non-blocking connect gets EAGAIN
                l = socket.socket(U, socket.SOCK_STREAM); l.bind(d + '/l.sock'); l.listen(0)
                cs = []
                while True:
                    c = socket.socket(U, socket.SOCK_STREAM); c.setblocking(False)
                    try:
                        c.connect(d + '/l.sock')
                    except BlockingIOError:
                        break
                    cs.append(c)
            print('READY', os.getpid(), flush=True)
            sys.stdin.readline()
            if mode == 'unlinked':
                ok = a.recv(16) == b'c2a'
                a.send(b'a2c'); ok = ok and c.recv(16) == b'a2c'
                ok = ok and r.recv(16) == b'w2r'
                w.send(b'again'); ok = ok and r.recv(16) == b'again'
                gone = not os.path.exists(d + '/l.sock') and not os.path.exists(d + '/d.sock')
                print('CHECK', 'ok' if ok else 'bad-data', 'gone' if gone else 'files-left', flush=True)
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    Proc start(String mode, Path dir) {
        Path program = tmp.resolve("paths.py");
        try {
            if (!Files.exists(program)) Files.writeString(program, PROGRAM);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        Proc p = cleanup.start("python " + mode, new ProcessBuilder(Fixtures.python().toString(), program.toString(), mode, dir.toString()));
        p.await("READY", l -> l.startsWith("READY ") || l.startsWith("Traceback"));
        assertTrue(p.isAlive(), "the program set up: " + p.tails());
        return p;
    }

    String refusal(Proc p) {
        Path image = tmp.resolve("refused.img");
        Cryo.Result r = Cryo.run(cleanup, "checkpoint", Long.toString(p.pid()), "-o", image.toString());
        assertTrue(r.exit() != 0, "checkpoint refuses: " + r.describe());
        assertFalse(Files.exists(image), "no image is left");
        assertTrue(p.isAlive(), "the refused tree runs on");
        System.out.println("[UnixSocketPathTest] refused: " + r.stderr().strip());
        return r.stderr();
    }

    @Test
    void aRelativeNameIsRefusedAtCheckpoint() {
        Proc p = start("relative", tmp);
        String err = refusal(p);
        assertTrue(err.contains("task " + p.pid() + ": fd ") && err.contains("relative path 'rel.sock'"), err);
        Proc q = start("relsender", tmp);
        err = refusal(q);
        assertTrue(err.contains("holding a datagram from 'snd.sock'") && err.contains("relative path 'snd.sock'"), err);
        p.send("go");
        q.send("go");
        assertEquals(0, p.awaitExit(Timeouts.EXIT));
        assertEquals(0, q.awaitExit(Timeouts.EXIT));
    }

    @Test
    void aSocketWhoseDirectoryIsGoneIsRefusedAtCheckpoint() {
        Proc p = start("dirgone", tmp);
        String err = refusal(p);
        assertTrue(err.contains(tmp.resolve("sub/x.sock") + " (socket:[") && err.contains("whose socket file was removed with its directory"), err);
        p.send("go");
        assertEquals(0, p.awaitExit(Timeouts.EXIT));
    }

    @Test
    void socketsWhoseFileWasUnlinkedAreConnectedAgainAndTheFileRemoved() {
        Proc p = start("unlinked", tmp);
        Path image = tmp.resolve("unlinked.img");
        Cryo.checkpoint(cleanup, p.pid(), image);
        assertEquals(128 + Os.SIGKILL, p.awaitExit(Timeouts.EXIT));
        TreeFixtures.awaitAllGone(List.of(p.pid()), Duration.ofSeconds(30));
        Proc r = Cryo.startRestart(cleanup, image, p.pid());
        r.send("go");
        String l = r.await("CHECK", x -> x.startsWith("CHECK") || x.startsWith("Traceback"));
        assertEquals("CHECK ok gone", l, r.tails());
        assertEquals(0, r.awaitExit(Timeouts.EXIT), r.tails());
    }

    /**
     * A restart whose listener's path holds a live listener with a full accept queue: it fails at once naming
     * the path (a blocking probe would wait for ever), leaves no process, and leaves that listener's file.
     */
    @Test
    void aLiveListenerWithAFullQueueFailsTheRestartAndIsLeftAlone() throws IOException {
        Proc p = start("listen", tmp);
        Path image = tmp.resolve("listen.img");
        Cryo.checkpoint(cleanup, p.pid(), image);
        assertEquals(128 + Os.SIGKILL, p.awaitExit(Timeouts.EXIT));
        TreeFixtures.awaitAllGone(List.of(p.pid()), Duration.ofSeconds(30));
        Path sock = tmp.resolve("l.sock");
        Files.delete(sock);   // the killed listener's stale file
        Proc live = start("full", tmp);
        Object inode = Files.getAttribute(sock, "unix:ino");
        subreaper.off();
        Leftovers before = Leftovers.snapshot();
        String line = Cryo.restartExpectingFailure(cleanup, image, p.pid()).assertOneLineError();
        System.out.println("[UnixSocketPathTest] " + line);
        assertTrue(line.contains("another process listens on " + sock), line);
        assertFalse(Procfs.exists(p.pid()), "the failed restart left pid " + p.pid());
        before.assertNone(cleanup, "the failed restart");
        assertEquals(inode, Files.getAttribute(sock, "unix:ino"), "the live listener's socket file is untouched");
        assertTrue(live.isAlive());
        live.send("go");
        assertEquals(0, live.awaitExit(Timeouts.EXIT));
    }

    /**
     * A container (unshare: its own pid, mount, UTS and IPC namespaces) that bind-mounts a directory of the
     * host on /mnt and listens at /mnt/listen.sock, with an accepted connection and two waiting (the C fixture,
     * which verifies itself into a file on SIGUSR1): /mnt/listen.sock is no path on the host, so the connects
     * of the restart must be made in the container's mount namespace.
     */
    @Test
    void aContainersConnectionsAreMadeInItsMountNamespace() throws IOException {
        Fixtures.assumeTool("unshare");
        Path exe = Fixtures.compile(tmp, "unix_sockets", Fixtures.Build.PIE);
        Path inner = Files.createDirectory(tmp.resolve("inner"));
        Path out = tmp.resolve("verify.out");
        assertFalse(Files.exists(Path.of("/mnt/listen.sock")), "the host has no /mnt/listen.sock");
        List<String> names = List.of("listen:/mnt", "dgramnamed:/mnt");
        String script = "mount --make-rprivate / && mount --bind " + inner + " /mnt && exec " + exe + " --signal " + out + " " + String.join(" ", names);
        Instant t0 = Instant.now();
        Proc u = cleanup.start("unshare", new ProcessBuilder("unshare", "--fork", "--pid", "--mount-proc", "--uts", "--ipc", "sh", "-c", script)
                .redirectInput(Path.of("/dev/null").toFile()));
        u.await("READY", l -> l.startsWith("READY ") || l.startsWith("SETUP-FAIL"));
        long init = TreeFixtures.children(u.pid()).getFirst();
        cleanup.foreign(init, t0, "container init");
        subreaper.track(List.of(init));
        assertTrue(Files.exists(inner.resolve("listen.sock")), "the listener's file is in the bind-mounted directory");
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
            lines = Files.exists(out) ? Files.readAllLines(out) : List.of();
        }
        assertEquals(new ArrayList<>(names.stream().map(n -> "OK " + n).toList()), lines.subList(0, lines.size() - 1), "every scenario inside the container: " + lines);
        assertEquals("DONE 0", lines.getLast());
        assertFalse(Files.exists(Path.of("/mnt/listen.sock")), "nothing was bound on the host's /mnt");
        Os.kill(clone, Os.SIGKILL);
        Subreaper.reap(List.of(clone));
        Procfs.awaitGone(clone, Timeouts.EXIT);
    }
}
