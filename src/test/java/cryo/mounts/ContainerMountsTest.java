package cryo.mounts;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
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
 * A container (unshare: its own pid, mount, UTS and IPC namespaces) with a tmpfs holding files of every kind and
 * a bind mount of a host directory, whose init (its cwd and an fd in the tmpfs) counts into a file of the tmpfs: checkpointed through the CLI,
 * restarted twice at once, each clone with its own copy of the tmpfs going on from the image; and bad images
 * (tmpfs contents cut short, a bind source gone) that are one line, leaving no process and no mount.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class ContainerMountsTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path dir;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    /** The container's init: mounts, files, then a loop appending its round to t/counter. */
    private long start() {
        String d = dir.toString();
        String script = String.join("\n",
                "mkdir -p " + d + "/t " + d + "/src " + d + "/b",
                "echo from-host > " + d + "/src/h",
                "mount -t tmpfs -o size=16m,mode=755 box " + d + "/t",
                "mount --bind " + d + "/src " + d + "/b",
                "cd " + d + "/t",
                "printf hello > plain",
                "truncate -s 2M sparse",
                "printf mid | dd of=sparse bs=1 seek=1000000 conv=notrunc 2>/dev/null",
                "mkdir -m 700 sub",
                "echo deep > sub/deep",
                "chmod 640 sub/deep",
                "chown 12:34 sub/deep",
                "ln -s sub/deep link",
                "exec 3< plain",
                "echo READY",
                "i=0; while :; do i=$((i+1)); echo $i >> " + d + "/t/counter; sleep 0.02; done");
        Instant t0 = Instant.now();
        Proc u = cleanup.start("unshare", new ProcessBuilder("unshare", "--fork", "--pid", "--mount-proc", "--uts", "--ipc", "sh", "-ec", script)
                .redirectInput(Path.of("/dev/null").toFile()));
        u.out().await("READY", l -> l.equals("READY"), Timeouts.LINE);
        long init;
        try {
            init = Long.parseLong(Procfs.read(Path.of("/proc/" + u.pid() + "/task/" + u.pid() + "/children")).trim().split(" ")[0]);
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
        cleanup.foreign(init, t0, "container init");
        subreaper.track(List.of(init));
        awaitCounter(init, 1);
        return init;
    }

    private Path t(long pid) {
        return Path.of("/proc/" + pid + "/root" + dir + "/t");
    }

    /** The rounds in t/counter of pid: 1, 2, 3... with no gap or repeat. */
    private List<Long> counter(long pid) throws java.io.IOException {
        List<Long> out = new ArrayList<>();
        for (String l : Files.readAllLines(t(pid).resolve("counter"))) out.add(Long.parseLong(l.trim()));
        for (int i = 0; i < out.size(); i++) assertEquals(i + 1, out.get(i), "round " + (i + 1) + " of " + pid + ": " + out);
        return out;
    }

    private long awaitCounter(long pid, long beyond) {
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (true) {
            try {
                List<Long> c = counter(pid);
                if (!c.isEmpty() && c.getLast() > beyond) return c.getLast();
            } catch (java.io.IOException | NumberFormatException e) {
                // not written yet, or a line being written
            }
            assertTrue(System.nanoTime() < deadline, "the counter of " + pid + " did not pass " + beyond);
            Procfs.sleep(Duration.ofMillis(10));
        }
    }

    private long restartDetached(Path image) {
        ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), "restart", "-d", image.toString())).directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of());
        pb.redirectInput(Path.of("/dev/null").toFile());
        Instant t0 = Instant.now();
        Proc p = cleanup.start("cryo restart", pb);
        assertEquals(0, p.awaitExit(Timeouts.CRYO), () -> "cryo restart failed: " + p.tails());
        long pid = Long.parseLong(p.out().all().getFirst().trim());
        cleanup.foreign(pid, t0, "restored container init");
        subreaper.track(List.of(pid));
        return pid;
    }

    @Test
    void eachRestartHasItsOwnCopyOfTheTmpfs() throws Exception {
        String hostMounts = Files.readString(Path.of("/proc/self/mountinfo"));
        long init = start();
        Path image = dir.resolve("c.img");
        Cryo.checkpoint(cleanup, init, image);
        Procfs.awaitGone(init, Timeouts.EXIT);
        String show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        assertTrue(show.contains("MOUNT     id=") && show.contains("kind=FS mount_point=" + dir + "/t fs_type=tmpfs source=box options=rw,relatime")
                && show.contains("tmpfs_files=7"), show);
        assertTrue(show.contains("kind=BIND mount_point=" + dir + "/b"), show);
        assertTrue(show.contains("TMPFS_FILE mount=") && show.contains("path=sub/deep"), show);

        // the same image twice at once: each clone has a tmpfs of its own, filled from the image
        Map<Long, Long> counters = new java.util.HashMap<>();
        List<Long> clones = new ArrayList<>();
        var ra = java.util.concurrent.CompletableFuture.supplyAsync(() -> restartDetached(image));
        var rb = java.util.concurrent.CompletableFuture.supplyAsync(() -> restartDetached(image));
        clones.add(ra.get());
        clones.add(rb.get());
        for (long c : clones) {
            Path t = t(c);
            assertEquals("hello", Files.readString(t.resolve("plain")));
            byte[] sparse = Files.readAllBytes(t.resolve("sparse"));
            assertEquals(2 << 20, sparse.length);
            assertEquals("mid", new String(sparse, 1_000_000, 3));
            Map<String, Object> deep = Files.readAttributes(t.resolve("sub/deep"), "unix:*", LinkOption.NOFOLLOW_LINKS);
            assertEquals(0640, (int) deep.get("mode") & 07777);
            assertEquals(12, deep.get("uid"));
            assertEquals(34, deep.get("gid"));
            assertEquals(0700, (int) Files.getAttribute(t.resolve("sub"), "unix:mode") & 07777);
            assertEquals("sub/deep", Files.readSymbolicLink(t.resolve("link")).toString());
            assertEquals("from-host\n", Files.readString(Path.of("/proc/" + c + "/root" + dir + "/b/h")));
            assertEquals(dir + "/t", Files.readSymbolicLink(Path.of("/proc/" + c + "/cwd")).toString(), "the init's cwd is in its tmpfs");
            assertEquals(dir + "/t/plain", Files.readSymbolicLink(Path.of("/proc/" + c + "/fd/3")).toString());
            assertEquals("hello", Files.readString(Path.of("/proc/" + c + "/fd/3")), "fd 3 is open on the clone's own tmpfs file");
            counters.put(c, awaitCounter(c, 0));
        }
        for (long c : clones) awaitCounter(c, counters.get(c) + 10);   // counter() checks: no gap, no repeat
        Files.writeString(t(clones.get(0)).resolve("only-a"), "a");
        assertFalse(Files.exists(t(clones.get(1)).resolve("only-a")), "clone b has its own tmpfs");
        assertFalse(Files.exists(dir.resolve("t/plain")), "the host sees none of it");
        for (long c : clones) Procfs.assertRunningUntraced(c, "clone " + c);
        for (long c : clones) cryo.testing.Os.kill(c, cryo.testing.Os.SIGKILL);
        for (long c : clones) Procfs.awaitGone(c, Timeouts.EXIT);
        assertEquals(hostMounts, Files.readString(Path.of("/proc/self/mountinfo")), "no mount left on the host");
    }

    private String restartFails(Path image, Path bad, java.util.function.UnaryOperator<List<ImageRecord>> change) throws Exception {
        if (change != null) TreeFixtures.rewrite(image, bad, change);
        String hostMounts = Files.readString(Path.of("/proc/self/mountinfo"));
        subreaper.off();
        Leftovers before = Leftovers.snapshot();
        String line = Cryo.run(cleanup, "restart", "-d", bad.toString()).assertOneLineError();
        before.assertNone(cleanup, "a restart of " + bad.getFileName());
        subreaper.on();
        assertEquals(hostMounts, Files.readString(Path.of("/proc/self/mountinfo")), "no mount left on the host");
        return line;
    }

    @Test
    void tmpfsContentsCutShortAndABindSourceGoneAreOneLine() throws Exception {
        long init = start();
        Path image = dir.resolve("c.img");
        Cryo.checkpoint(cleanup, init, image);
        Procfs.awaitGone(init, Timeouts.EXIT);

        String l = restartFails(image, dir.resolve("short.img"), rs -> {
            List<ImageRecord> out = new ArrayList<>(rs);
            out.remove(out.stream().filter(r -> r instanceof TmpfsDataRecord).reduce((a, b) -> b).orElseThrow());
            return out;
        });
        assertTrue(l.contains("TMPFS_FILE") && l.contains("its TMPFS_DATA records hold") && l.contains("field 'data_bytes' says"), l);

        Files.delete(dir.resolve("src/h"));
        Files.delete(dir.resolve("src"));
        l = restartFails(image, image, null);
        assertEquals("cryo: record MOUNT " + dir + "/b (bind of " + dir + "/src): the bind source " + dir + "/src is gone", l);
    }

    /** cryo run --root: the root (DIR pivot_root'ed into) and the tmpfs of the container come back in each of two clones. */
    @Test
    void aCryoRunRootContainerRestartsTwice() throws Exception {
        Path root = RunRootMountsTest.smallRoot(dir);
        long init = Cryo.detached(cleanup, "run", "--root", root.toString(), "-d", "--", "sh", "-c",
                // fds 0-2 on files of the container (the test below keeps cryo run -d's /dev/null of the host)
                "mount -t tmpfs -o size=1m tt /tmp && echo inside > /tmp/f && exec </tmp/f >/tmp/log 2>&1 && echo ready > /ready && exec sleep 100000");
        subreaper.track(List.of(init));
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (!Files.exists(root.resolve("ready"))) {
            assertTrue(System.nanoTime() < deadline, "the container did not get ready");
            Procfs.sleep(Duration.ofMillis(10));
        }
        Path image = dir.resolve("r.img");
        Cryo.checkpoint(cleanup, init, image);
        Procfs.awaitGone(init, Timeouts.EXIT);
        var ra = java.util.concurrent.CompletableFuture.supplyAsync(() -> restartDetached(image));
        var rb = java.util.concurrent.CompletableFuture.supplyAsync(() -> restartDetached(image));
        for (long c : List.of(ra.get(), rb.get())) {
            assertEquals("inside\n", Files.readString(Path.of("/proc/" + c + "/root/tmp/f")));
            assertTrue(Files.isSameFile(Path.of("/proc/" + c + "/root/ready"), root.resolve("ready")), "its / is the run's root");
            assertEquals("inside\n", Files.readString(Path.of("/proc/" + c + "/fd/0")), "fd 0 on its own tmpfs file");
            Procfs.assertRunningUntraced(c, "clone " + c);
            cryo.testing.Os.kill(c, cryo.testing.Os.SIGKILL);
            Procfs.awaitGone(c, Timeouts.EXIT);
        }
    }

    /**
     * cryo run -d gives the container the host's /dev/null as fds 0-2, a file outside its root: the image says
     * so (FILE host) and each clone gets it back from cryo's side, not from its root (which has no /dev).
     */
    @Test
    void aRootContainersFdsOnHostFilesComeBack() throws Exception {
        Path root = RunRootMountsTest.smallRoot(dir);
        assertTrue(!Files.exists(root.resolve("dev/null")), "the small root has no /dev/null");
        long init = Cryo.detached(cleanup, "run", "--root", root.toString(), "-d", "--", "sh", "-c", "echo ready > /ready && exec sleep 100000");
        subreaper.track(List.of(init));
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (!Files.exists(root.resolve("ready"))) {
            assertTrue(System.nanoTime() < deadline, "the container did not get ready");
            Procfs.sleep(Duration.ofMillis(10));
        }
        Path image = dir.resolve("h.img");
        Cryo.checkpoint(cleanup, init, image);
        Procfs.awaitGone(init, Timeouts.EXIT);
        assertTrue(Cryo.run(cleanup, "show", image.toString()).assertOk().stdout().lines()
                .anyMatch(l -> l.startsWith("FILE") && l.contains("path=/dev/null") && l.contains("host=1")), "show marks the host's file");
        long c = restartDetached(image);
        for (int fd = 0; fd <= 2; fd++) {
            assertTrue(Files.isSameFile(Path.of("/proc/" + c + "/fd/" + fd), Path.of("/dev/null")), "fd " + fd + " is the host's /dev/null");
        }
        assertTrue(Files.isSameFile(Path.of("/proc/" + c + "/root/ready"), root.resolve("ready")), "its / is the run's root");
        Procfs.assertRunningUntraced(c, "clone " + c);
        cryo.testing.Os.kill(c, cryo.testing.Os.SIGKILL);
        Procfs.awaitGone(c, Timeouts.EXIT);
    }
}
