package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * inotify instances (src/test/c/inotify.c, which checks itself: flags, every watch's wd and mask as fdinfo
 * shows them, and that events come with the right wd and name), a Python program watching directories
 * through ctypes and Node.js's fs.watch: after checkpoint -> kill -> restart the watches have their own wds, not contiguous ones
 * included, their masks (IN_ONESHOT too) and report what happens in the watched directories; after
 * checkpoint --leave-running they go on working in the original. An event queued unread at checkpoint is
 * lost, with a warning. An instance shared with a process outside the tree is refused. The same inside a container, on the host's file system and on a tmpfs of its own. A watch on a deleted file and a fanotify
 * instance are refused with one line each. -Dcryo.loops=N repeats each scenario N times.
 */
@Timeout(value = 20, unit = TimeUnit.MINUTES)
class InotifyTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    private static final int LOOPS = Integer.getInteger("cryo.loops", 1);

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    private Proc start(Path dir) {
        return start(cleanup, tmp, dir);
    }

    /** Starts the fixture (compiled into tmp) on dir and waits for READY. */
    static Proc start(Cleanup cleanup, Path tmp, Path dir) {
        Path exe = tmp.resolve("inotify");
        if (!Files.isExecutable(exe)) exe = Fixtures.compile(tmp, "inotify", Fixtures.Build.PIE);
        Proc p = cleanup.start("inotify", new ProcessBuilder(exe.toString(), dir.toString()));
        String ready = p.await("READY", l -> l.startsWith("READY ") || l.startsWith("SETUP-FAIL"));
        assertTrue(ready.startsWith("READY "), ready);
        return p;
    }

    static void ok(Proc p, String command, String when) {
        p.send(command);
        assertEquals("OK", p.await("OK or FAIL", l -> l.equals("OK") || l.startsWith("FAIL")), command + " " + when);
    }

    static void quit(Proc p) {
        p.send("quit");
        p.await("BYE", l -> l.equals("BYE"));
        assertEquals(0, p.awaitExit(Timeouts.EXIT));
    }

    private Path checkpointAndAwaitGone(Proc p, Path image) {
        return checkpointAndAwaitGone(cleanup, p, image);
    }

    static Path checkpointAndAwaitGone(Cleanup cleanup, Proc p, Path image) {
        Cryo.checkpoint(cleanup, p.pid(), image);
        assertEquals(128 + Os.SIGKILL, p.awaitExit(Timeouts.EXIT), "the tree is killed after the checkpoint");
        TreeFixtures.awaitAllGone(List.of(p.pid()), Duration.ofSeconds(30));
        return image;
    }

    private Proc restart(Path image, long pid) {
        Proc r = PipeFixtureTest.startRestart(cleanup, subreaper, image, List.of(pid));
        PipeFixtureTest.awaitReleased(r, List.of(pid));
        return r;
    }

    static Path mkdir(Path p) {
        try {
            return Files.createDirectories(p);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void watchesComeBackWithTheirWdsMasksAndEvents() throws IOException {
        for (int i = 0; i < LOOPS; i++) {
            Path dir = mkdir(tmp.resolve("w-" + i));
            Proc p = start(dir);
            ok(p, "check", "before the checkpoint");
            // an event queued in B and not read: lost, with a warning (the check after restart would see it otherwise)
            Files.setPosixFilePermissions(dir.resolve("n11"), java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
            Path image = tmp.resolve("w-" + i + ".img");
            Cryo.Result cp = Cryo.checkpoint(cleanup, p.pid(), image);
            assertEquals(List.of("cryo: warning: task " + p.pid() + ": fd 5: 16 bytes of inotify events queued unread are not in the image (reading them"
                    + " would consume them): the program will not get them after restart"), cp.stderrLines(), cp::describe);
            assertEquals(128 + Os.SIGKILL, p.awaitExit(Timeouts.EXIT), "the tree is killed after the checkpoint");
            TreeFixtures.awaitAllGone(List.of(p.pid()), Duration.ofSeconds(30));
            List<Map<String, String>> watches = PipeFixtureTest.showRecords(cleanup, image, "INOTIFY_WATCH");
            assertEquals(List.of("1", "3", "5", "11", "12"), watches.stream().map(w -> w.get("wd")).sorted((a, b) -> Integer.parseInt(a) - Integer.parseInt(b)).toList(),
                    "the watches of both instances: " + watches);
            assertEquals(2, PipeFixtureTest.showRecords(cleanup, image, "OPEN_FILE").stream().filter(o -> "INOTIFY".equals(o.get("kind"))).count(),
                    "two inotify descriptions (fd 4 shares fd 3's)");
            Proc r = restart(image, p.pid());
            ok(r, "check", "after restart");
            ok(r, "check", "after restart, again");
            ok(r, "oneshot", "after restart");
            ok(r, "check", "after the one-shot watch fired");
            quit(r);
        }
    }

    @Test
    void leaveRunningLeavesTheWatchesWorkingAndTheImageRestarts() {
        for (int i = 0; i < LOOPS; i++) {
            Path dir = mkdir(tmp.resolve("l-" + i));
            Proc p = start(dir);
            Path image = tmp.resolve("l-" + i + ".img");
            Cryo.checkpoint(cleanup, p.pid(), image, "--leave-running");
            Procfs.assertRunningUntraced(p.pid(), "the fixture after checkpoint --leave-running");
            ok(p, "check", "in the original after checkpoint --leave-running");
            ok(p, "check", "in the original, again");
            quit(p);
            TreeFixtures.awaitAllGone(List.of(p.pid()), Duration.ofSeconds(30));
            Proc r = restart(image, p.pid());
            ok(r, "check", "after restart of the --leave-running image");
            ok(r, "oneshot", "after restart of the --leave-running image");
            quit(r);
        }
    }

    /**
     * Watches directories (wds 1-5000 added and removed again, then 5001 and 5002: restart uses up 5000 wds and
     * empties the queue of their IN_IGNORED on the way), prints each event read: "EVENT what wd mask name".
     */
    private static final String WATCHER = """
            import ctypes, os, struct, sys
            libc = ctypes.CDLL(None, use_errno=True)
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            fd = libc.inotify_init1(0)
            IN_CREATE, IN_DELETE, IN_MOVED_TO = 0x100, 0x200, 0x80
            for _ in range(5000):
                libc.inotify_rm_watch(fd, libc.inotify_add_watch(fd, sys.argv[1].encode(), IN_CREATE))
            names = {libc.inotify_add_watch(fd, sys.argv[2].encode(), IN_CREATE | IN_DELETE): "two",
                     libc.inotify_add_watch(fd, sys.argv[3].encode(), IN_MOVED_TO): "three"}
            print("READY", os.getpid(), *sorted(names), flush=True)
            while True:
                buf = os.read(fd, 4096)
                at = 0
                while at < len(buf):
                    wd, mask, cookie, n = struct.unpack_from("iIII", buf, at)
                    name = buf[at + 16:at + 16 + n].rstrip(b"\\0").decode()
                    at += 16 + n
                    if wd in names:
                        print("EVENT", names[wd], wd, hex(mask), name, flush=True)
            """;

    @Test
    void aPythonWatcherSeesWhatHappensAfterRestart() throws IOException {
        Path py = Fixtures.python();
        for (int i = 0; i < LOOPS; i++) {
            Path one = mkdir(tmp.resolve("py-" + i + "/one")), two = mkdir(tmp.resolve("py-" + i + "/two")), three = mkdir(tmp.resolve("py-" + i + "/three"));
            Proc p = cleanup.start("watcher", new ProcessBuilder(py.toString(), "-c", WATCHER, one.toString(), two.toString(), three.toString()));
            assertEquals("READY " + p.pid() + " 5001 5002", p.await("READY", l -> l.startsWith("READY ")));
            Files.createFile(two.resolve("before"));
            assertEquals("EVENT two 5001 0x100 before", p.await("EVENT", l -> l.startsWith("EVENT ")));
            Path image = checkpointAndAwaitGone(p, tmp.resolve("py-" + i + ".img"));
            Proc r = restart(image, p.pid());
            Files.createFile(one.resolve("unwatched"));
            Files.createFile(two.resolve("after"));
            assertEquals("EVENT two 5001 0x100 after", r.await("EVENT", l -> l.startsWith("EVENT ")));
            Files.delete(two.resolve("before"));
            assertEquals("EVENT two 5001 0x200 before", r.await("EVENT", l -> l.startsWith("EVENT ")));
            Files.move(one.resolve("unwatched"), three.resolve("moved"));
            assertEquals("EVENT three 5002 0x80 moved", r.await("EVENT", l -> l.startsWith("EVENT ")));
            Os.kill(p.pid(), Os.SIGKILL);
            r.awaitExit(Timeouts.EXIT);
        }
    }

    /**
     * Node.js: fs.watch on a directory (libuv's inotify instance, in its epoll) beside a setInterval counter:
     * after restart the counter counts on and a file made in the directory fires the watch.
     */
    @Test
    void aNodeFsWatchFiresAfterRestart() throws IOException {
        Fixtures.assumeTool("node");
        for (int i = 0; i < LOOPS; i++) {
            Path dir = mkdir(tmp.resolve("node-" + i));
            Proc p = cleanup.start("node", new ProcessBuilder(Fixtures.onPath("node").orElseThrow().toString(), "-e", """
                    const fs = require("fs");
                    let n = 0;
                    fs.watch(process.argv[1], (event, name) => process.stdout.write("WATCH " + event + " " + name + "\\n"));
                    process.stdout.write("READY " + process.pid + "\\n");
                    setInterval(() => { n++; process.stdout.write("TICK " + n + "\\n"); }, 2);
                    """, dir.toString()));
            p.awaitReady();
            Files.createFile(dir.resolve("before"));
            p.await("WATCH before", l -> l.equals("WATCH rename before"));
            for (int k = 0; k < 5; k++) p.nextTick();
            Cryo.checkpoint(cleanup, p.pid(), tmp.resolve("node-" + i + ".img"));
            long last = p.lastTickAfterEof();
            Proc r = Cryo.startRestart(cleanup, tmp.resolve("node-" + i + ".img"), p.pid());
            assertEquals(last + 1, r.nextTick(), "the first tick after restart follows the last one before");
            Files.createFile(dir.resolve("after"));
            r.await("WATCH after", l -> l.equals("WATCH rename after"));
            r.nextTick();
            Os.kill(p.pid(), Os.SIGKILL);
            r.awaitExit(Timeouts.EXIT);
        }
    }

    /**
     * The fixture as the init of a container (own pid, mount, UTS and IPC namespaces), watching a directory of
     * the host's file system (found again by its file handle) or one on a tmpfs of the container's own, which
     * restart makes anew with new inodes (found again by its path).
     */
    private void inAContainer(String dirName, boolean ownTmpfs) {
        Path exe = tmp.resolve("inotify");
        if (!Files.isExecutable(exe)) exe = Fixtures.compile(tmp, "inotify", Fixtures.Build.PIE);
        for (int i = 0; i < LOOPS; i++) {
            Path dir = mkdir(tmp.resolve(dirName + "-" + i));
            String mount = ownTmpfs ? "mount -t tmpfs -o size=1m t " + dir + " && " : "";
            java.time.Instant t0 = java.time.Instant.now();
            Proc u = cleanup.start("unshare", new ProcessBuilder("unshare", "--fork", "--pid", "--mount-proc", "--uts", "--ipc", "sh", "-c",
                    mount + "exec " + exe + " " + dir));
            String ready = u.await("READY", l -> l.startsWith("READY ") || l.startsWith("SETUP-FAIL"));
            assertEquals("READY 1", ready, "the fixture is the container's init");
            long init = onlyChild(u.pid());
            cleanup.foreign(init, t0, "container init");
            ok(u, "check", "in the container before the checkpoint");
            Path image = tmp.resolve(dirName + "-" + i + ".img");
            Cryo.checkpoint(cleanup, init, image);
            u.awaitExit(Timeouts.EXIT);
            TreeFixtures.awaitAllGone(List.of(init), Duration.ofSeconds(30));
            if (ownTmpfs) assertEquals(List.of(), Cryo.list(dir), "the fixture's files were on the container's tmpfs, not on the host");
            ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), "restart", image.toString())).directory(Cryo.root().toFile());
            Cryo.environment(pb, Map.of());
            Proc r = cleanup.start("cryo restart", pb);
            long restored = awaitOnlyChild(r);
            cleanup.foreign(restored, t0, "restored container init");
            ok(r, "check", "in the restarted container");
            ok(r, "oneshot", "in the restarted container");
            ok(r, "check", "in the restarted container, after the one-shot watch fired");
            r.send("quit");
            r.await("BYE", l -> l.equals("BYE"));
            assertEquals(0, r.awaitExit(Timeouts.EXIT), () -> "cryo restart exits with the init's status: " + r.tails());
        }
    }

    @Test
    void inAContainerAWatchedHostDirectoryIsFoundByItsHandle() {
        inAContainer("host", false);
    }

    @Test
    void inAContainerAWatchedDirectoryOfItsOwnTmpfsIsFoundByItsPath() {
        inAContainer("tmpfs", true);
    }

    private static long onlyChild(long pid) {
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (true) {
            List<Long> kids = children(pid);
            if (kids.size() == 1) return kids.getFirst();
            assertTrue(System.nanoTime() < deadline, "no single child of " + pid + ": " + kids);
            Procfs.sleep(Duration.ofMillis(10));
        }
    }

    /** The restored init under a foreground cryo restart, once cryo let it go. */
    private static long awaitOnlyChild(Proc restart) {
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (true) {
            assertTrue(restart.isAlive(), () -> "cryo restart ended: " + restart.tails());
            List<Long> kids = children(restart.pid());
            if (kids.size() == 1 && Procfs.tracerPid(kids.getFirst()) == 0 && Procfs.state(kids.getFirst()) != 't') return kids.getFirst();
            assertTrue(System.nanoTime() < deadline, () -> "no restored init under cryo restart: " + restart.tails());
            Procfs.sleep(Duration.ofMillis(10));
        }
    }

    private static List<Long> children(long pid) {
        List<Long> out = new java.util.ArrayList<>();
        try (var ts = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : (Iterable<Path>) ts::iterator) {
                String c = Files.readString(t.resolve("children")).trim();
                if (!c.isEmpty()) for (String x : c.split("\\s+")) out.add(Long.parseLong(x));
            }
        } catch (IOException e) {
            // gone
        }
        return out;
    }

    @Test
    void anInstanceAProcessOutsideTheTreeHoldsTooIsRefused() {
        Proc parent = cleanup.start("sharer", new ProcessBuilder(Fixtures.python().toString(), "-c", """
                import ctypes, os, sys, time
                libc = ctypes.CDLL(None, use_errno=True)
                ino = libc.inotify_init1(0)
                child = os.fork()
                if child == 0:
                    time.sleep(1000)
                    os._exit(0)
                print("READY", child, ino, flush=True)
                sys.stdin.read()
                os.kill(child, 9)
                os.waitpid(child, 0)
                """));
        String[] f = parent.await("READY", l -> l.startsWith("READY ")).split(" ");
        long child = Long.parseLong(f[1]);
        cleanup.foreign(child, java.time.Instant.now().minusSeconds(60), "the sharer's child");
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(child), "-o", tmp.resolve("s.img").toString()).stderrLines().getFirst();
        assertEquals("cryo: task " + child + ": fd " + f[2] + " is an inotify instance that task " + parent.pid() + " (fd " + f[2]
                + ") outside the tree holds too: not supported (restart would give the tree one of its own)", line);
        assertFalse(Files.exists(tmp.resolve("s.img")), "no image");
        Procfs.assertRunningUntraced(child, "the child");
        parent.closeStdin();
        assertEquals(0, parent.awaitExit(Timeouts.EXIT));
    }

    /**
     * Holds a deleted file open and watched, a fanotify instance, and an inotify instance watching a pipe
     * (pipefs has no mount to open a handle on): "READY inotify-fd fanotify-fd pipe-watching-fd".
     */
    private static final String REFUSED = """
            import ctypes, os, sys
            libc = ctypes.CDLL(None, use_errno=True)
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            keep = open(sys.argv[1], "w")
            ino = libc.inotify_init1(0)
            assert libc.inotify_add_watch(ino, sys.argv[1].encode(), 0x2) == 1
            os.unlink(sys.argv[1])
            fan = libc.fanotify_init(0, 0)
            assert fan >= 0, ctypes.get_errno()
            r, w = os.pipe()
            ino2 = libc.inotify_init1(0)
            assert libc.inotify_add_watch(ino2, b"/proc/self/fd/%d" % r, 0x1) == 1
            print("READY", ino, fan, ino2, flush=True)
            sys.stdin.read()
            """;

    @Test
    void aWatchOnADeletedFileOrAPipeAndAFanotifyInstanceAreRefusedOneLineEach() {
        Path file = tmp.resolve("doomed");
        Proc p = cleanup.start("refused", new ProcessBuilder(Fixtures.python().toString(), "-c", REFUSED, file.toString()));
        String[] f = p.await("READY", l -> l.startsWith("READY ")).split(" ");
        Path out = tmp.resolve("x.img");
        Cryo.Result r = Cryo.run(cleanup, "checkpoint", Long.toString(p.pid()), "-o", out.toString());
        assertTrue(r.exit() != 0, r::describe);
        List<String> lines = r.stderrLines();
        assertEquals(4, lines.size(), () -> "three reasons and a summary: " + r.describe());
        String task = "cryo: task " + p.pid() + ": ";
        assertTrue(lines.get(0).startsWith(task + "fd " + f[1] + " is an inotify instance watching " + file + " (deleted) (wd 1")
                && lines.get(0).endsWith("which was deleted: not supported"), lines.get(0));
        assertEquals(task + "fd " + f[2] + " is a fanotify instance (anon_inode:[fanotify]): not supported (cryo does not restore fanotify)", lines.get(1));
        assertTrue(lines.get(2).startsWith(task + "fd " + f[3] + " is an inotify instance watching wd 1 (inode ")
                && lines.get(2).endsWith("which cryo cannot open by its file handle on any mount of that device (the task has none)"), lines.get(2));
        assertFalse(Files.exists(out), "no image");
        Procfs.assertRunningUntraced(p.pid(), "the refused process");
    }
}
