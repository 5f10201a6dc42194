package cryo.ns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A container (the init of its own pid, mount, UTS and IPC namespaces, running a shell pipeline, holding a
 * tmpfs with a file and a message queue) checkpointed and restarted into fresh namespaces: twice at once from
 * one image, and beside its still running original; each clone has the same in-namespace pids (ps inside
 * reads its own /proc), the same host name, its own copy of the tmpfs and of the queue, and carries on the
 * pipeline where the image left it.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class ContainerTest {
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

    /** `cryo restart -d IMAGE` started now; await() gives the new host pid of the container's init. */
    private record Restarting(Proc proc, Instant started) {
        long await(Cleanup cleanup, Subreaper subreaper) {
            assertEquals(0, proc.awaitExit(Timeouts.CRYO), () -> "cryo restart failed: " + proc.tails());
            long pid = Long.parseLong(proc.out().all().getFirst().trim());
            cleanup.foreign(pid, started, "restored container init");
            subreaper.track(List.of(pid));
            return pid;
        }
    }

    private Restarting startRestart(Path image) {
        ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), "restart", "-d", image.toString())).directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of());
        pb.redirectInput(Path.of("/dev/null").toFile());
        return new Restarting(cleanup.start("cryo restart", pb), Instant.now());
    }

    private static String readString(Path p) {
        try {
            return java.nio.file.Files.readString(p);
        } catch (java.io.IOException e) {
            throw new AssertionError(p + ": " + e, e);
        }
    }

    private static void writeString(Path p, String s) {
        try {
            java.nio.file.Files.writeString(p, s);
        } catch (java.io.IOException e) {
            throw new AssertionError(p + ": " + e, e);
        }
    }

    @Test
    void oneImageRestartsTwiceAtOnceIntoFreshNamespaces() {
        Containers.Running c = Containers.start(cleanup, subreaper, tmp, "box1", false);
        Map<Long, String> members = Containers.members(c.init());
        assertEquals("sh", members.get(1L), "the init is pid 1 in its namespace: " + members);
        assertTrue(members.size() >= 4, "sh, seq, awk and the loop's sh: " + members);
        Map<String, Integer> queues = Containers.queues(c.init());
        assertEquals(List.of(c.queue()), List.copyOf(queues.values()), "the container's own queue");

        Path image = tmp.resolve("box1.img");
        Cryo.checkpoint(cleanup, c.init(), image);
        c.unshare().awaitExit(Timeouts.EXIT);
        String show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        assertTrue(show.contains("\nNAMESPACES own=[pid,ipc,uts,mnt] hostname=box1 "), show);
        assertTrue(show.contains("{pid=1 host_pid=" + c.init() + " comm=sh "), "the TREE names the init by its pids inside and on the host: " + show);

        List<Long> before = Containers.values(tmp.resolve("p.box1"));
        long last = before.getLast();
        for (int i = 0; i < before.size(); i++) assertEquals(2L * (i + 1), before.get(i), "the original's numbers");

        // two restarts of the one image at the same time: each gets fresh namespaces, so the same pids twice
        Restarting ra = startRestart(image), rb = startRestart(image);
        long a = ra.await(cleanup, subreaper), b = rb.await(cleanup, subreaper);
        for (long clone : List.of(a, b)) {
            assertEquals(1, Containers.nsPid(clone), "the clone's init is pid 1 in its namespace");
            assertEquals(members, Containers.members(clone), "the clone's processes have the original's pids inside");
            assertEquals("box1", Containers.hostname(clone));
            assertEquals(queues, Containers.queues(clone), "the clone's IPC namespace holds the queue at its id");
            assertEquals(0, Procfs.tracerPid(clone), "released");
            assertEquals("box1\n", readString(Path.of("/proc/" + clone + "/root" + tmp + "/m/f")), "the clone's tmpfs file");
            // ps inside reads the clone's own /proc: the original's pids (the loop's short-lived forks aside)
            Set<Long> ps = new TreeSet<>();
            for (String l : Containers.run(List.of("nsenter", "-t", Long.toString(clone), "-p", "-m", "ps", "-e", "-o", "pid=")).split("\n")) {
                if (!l.isBlank()) ps.add(Long.parseLong(l.trim()));
            }
            assertTrue(ps.containsAll(members.keySet()), "ps inside the clone shows " + ps + ", the image had " + members);
        }
        // each clone has its own copy of the tmpfs
        writeString(Path.of("/proc/" + a + "/root" + tmp + "/m/f"), "a\n");
        assertEquals("box1\n", readString(Path.of("/proc/" + b + "/root" + tmp + "/m/f")), "clone b's tmpfs is its own");
        assertFalse(java.nio.file.Files.exists(tmp.resolve("m/f")), "the host's mount point stays empty");
        assertFalse(Containers.members(a).isEmpty());
        // tell the clones apart: each loop reads its host name every round
        Containers.run(List.of("nsenter", "-t", Long.toString(a), "-u", "hostname", "clone-a"));
        Containers.run(List.of("nsenter", "-t", Long.toString(b), "-u", "hostname", "clone-b"));
        for (String h : List.of("clone-a", "clone-b")) {
            Path p = tmp.resolve("p." + h);
            Containers.awaitFile(p);
            long first = Containers.values(p).getFirst();
            Containers.awaitBeyond(p, first + 10);
        }
        // both went on from where the image left off: after `last`, p.box1 holds what the clones wrote before
        // they were renamed, each number at most twice, with no gap, then each clone's own file goes on
        List<Long> box1 = Containers.values(tmp.resolve("p.box1"));
        assertEquals(before, box1.subList(0, before.size()), "p.box1 up to the checkpoint");
        List<Long> after = box1.subList(before.size(), box1.size());
        Map<Long, Integer> count = new HashMap<>();
        for (long v : after) count.merge(v, 1, Integer::sum);
        assertTrue(count.values().stream().allMatch(n -> n <= 2), "each clone wrote each number once: " + after);
        TreeSet<Long> distinct = new TreeSet<>(after);
        long expect = last + 2;
        for (long v : distinct) {
            assertEquals(expect, v, "the clones went on from " + last + " without a gap: " + after);
            expect += 2;
        }
        for (String h : List.of("clone-a", "clone-b")) {
            List<Long> own = Containers.values(tmp.resolve("p." + h));
            assertTrue(own.getFirst() > last && own.getFirst() <= expect, h + " goes on from the image: first " + own.getFirst() + ", last before " + last);
            for (int i = 1; i < own.size(); i++) assertEquals(own.get(i - 1) + 2, own.get(i), h + " has no gap or repeat");
        }

        // each clone has its own copy of the queue
        Containers.run(List.of("nsenter", "-t", Long.toString(a), "-i", "ipcrm", "-q", Integer.toString(c.queue())));
        assertTrue(Containers.queues(a).isEmpty(), "removed in clone a");
        assertEquals(queues, Containers.queues(b), "clone b still has its own");

        Containers.kill(a);
        Containers.kill(b);
    }

    @Test
    void theOriginalRunsOnWhileItsCloneIsRestarted() {
        Containers.Running c = Containers.start(cleanup, subreaper, tmp, "box2", false);
        Map<Long, String> members = Containers.members(c.init());
        Path image = tmp.resolve("box2.img");
        Cryo.checkpoint(cleanup, c.init(), image, "--leave-running");
        long clone = startRestart(image).await(cleanup, subreaper);
        assertEquals(members, Containers.members(clone), "the clone has the original's pids inside its namespace");
        assertEquals(members, Containers.members(c.init()), "the original is untouched");
        assertEquals("box2", Containers.hostname(clone));
        assertEquals(Containers.queues(c.init()), Containers.queues(clone));
        Containers.run(List.of("nsenter", "-t", Long.toString(clone), "-u", "hostname", "clone2"));
        Path mine = tmp.resolve("p.clone2"), original = tmp.resolve("p.box2");
        Containers.awaitFile(mine);
        Containers.awaitBeyond(mine, Containers.values(mine).getFirst() + 10);
        Containers.awaitBeyond(original, Containers.values(original).getLast() + 10);
        assertEquals("box2", Containers.hostname(c.init()), "the original keeps its own host name");
        assertEquals(0, Procfs.tracerPid(c.init()));
        Containers.kill(clone);
        Containers.kill(c.init());
        c.unshare().awaitExit(Timeouts.EXIT);
    }

    @Test
    void loopbackUpComesBackInAFreshNetworkNamespace() {
        Containers.Running c = Containers.start(cleanup, subreaper, tmp, "box3", true);
        Containers.run(List.of("nsenter", "-t", Long.toString(c.init()), "-n", "ip", "link", "set", "lo", "up"));
        Path image = tmp.resolve("box3.img");
        Cryo.checkpoint(cleanup, c.init(), image);
        c.unshare().awaitExit(Timeouts.EXIT);
        String show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        assertTrue(show.contains("NAMESPACES own=[pid,ipc,uts,mnt,net] hostname=box3 domainname=(none) loopback=up"), show);
        long clone = startRestart(image).await(cleanup, subreaper);
        String lo = Containers.run(List.of("nsenter", "-t", Long.toString(clone), "-n", "ip", "-o", "link", "show", "lo"));
        assertTrue(lo.contains("<LOOPBACK,UP,LOWER_UP>"), "lo is up in the clone: " + lo);
        assertFalse(Containers.run(List.of("readlink", "/proc/" + clone + "/ns/net")).equals(Containers.run(List.of("readlink", "/proc/self/ns/net"))));
        Containers.kill(clone);
    }

    @Test
    void aContainerMadeByCryoRunComesBack() throws Exception {
        Instant t0 = Instant.now();
        Path out = tmp.resolve("run.out");
        ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), "run", "-d", "--hostname", "ran", "--net", "--", "sh", "-c",
                Containers.script(tmp, "ran").replace("hostname ran && ", "")))
                .directory(Cryo.root().toFile()).redirectInput(Path.of("/dev/null").toFile()).redirectOutput(out.toFile())
                .redirectError(ProcessBuilder.Redirect.DISCARD);
        Cryo.environment(pb, Map.of());
        Process p = pb.start();
        cleanup.process(p);
        assertTrue(p.waitFor(Timeouts.CRYO.toMillis(), TimeUnit.MILLISECONDS), "cryo run -d did not return");
        assertEquals(0, p.exitValue());
        // the container shares cryo's stdout: its READY line may come before or after the pid cryo prints
        long init = Long.parseLong(java.nio.file.Files.readAllLines(out).stream().filter(l -> l.matches("\\d+")).findFirst()
                .orElseThrow(() -> new AssertionError("cryo run -d printed no pid")));
        cleanup.foreign(init, t0, "container init");
        subreaper.track(List.of(init));
        Path progress = tmp.resolve("p.ran");
        Containers.awaitFile(progress);
        Map<Long, String> members = Containers.members(init);
        Path image = tmp.resolve("ran.img");
        Cryo.checkpoint(cleanup, init, image);
        String show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        assertTrue(show.contains("NAMESPACES own=[pid,ipc,uts,mnt,net] hostname=ran domainname=(none) loopback=up"), show);
        long last = Containers.values(progress).getLast();
        long clone = startRestart(image).await(cleanup, subreaper);
        assertEquals(members, Containers.members(clone));
        assertEquals("ran", Containers.hostname(clone));
        String lo = Containers.run(List.of("nsenter", "-t", Long.toString(clone), "-n", "ip", "-o", "link", "show", "lo"));
        assertTrue(lo.contains("UP"), lo);
        Containers.awaitBeyond(progress, last + 10);
        List<Long> v = Containers.values(progress);
        for (int i = 1; i < v.size(); i++) assertEquals(v.get(i - 1) + 2, v.get(i), "no gap or repeat across the restart");
        Containers.kill(clone);
    }

    @Test
    void aSubtreeOfAContainerIsRefusedNamingItsInit() {
        Containers.Running c = Containers.start(cleanup, subreaper, tmp, "box4", false);
        long loop = -1;
        List<Long> todo = new ArrayList<>(Containers.children(c.init()));
        for (long p : todo) if (Procfs.stat(p).orElseThrow().comm().equals("sh")) loop = p;
        assertTrue(loop > 0, "the loop's shell");
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(loop), "-o", tmp.resolve("sub.img").toString()).assertOneLineError();
        assertTrue(line.contains("task " + loop + ": ") && line.contains("its init " + c.init()), line);
        assertStillRunning(c, "box4");
        Containers.kill(c.init());
    }

    /** The pid a user has at hand is unshare's: one line pointing at the container's init, not one per namespace. */
    @Test
    void unsharesOwnPidPointsAtTheContainersInit() {
        Containers.Running c = Containers.start(cleanup, subreaper, tmp, "box6", false);
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(c.unshare().pid()), "-o", tmp.resolve("u.img").toString()).assertOneLineError();
        assertTrue(line.contains("task " + c.init() + ": ") && line.contains("cryo checkpoint " + c.init()), line);
        assertStillRunning(c, "box6");
        Containers.kill(c.init());
    }

    @Test
    void aProcessThatJoinedWithSetnsIsRefused() {
        Containers.Running c = Containers.start(cleanup, subreaper, tmp, "box5", false);
        Proc nsenter = cleanup.start("nsenter", new ProcessBuilder("nsenter", "-t", Long.toString(c.init()), "-p", "-m", "sleep", "100000"));
        long joined = -1;
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (joined < 0) {
            assertTrue(System.nanoTime() < deadline, "nsenter's child did not appear");
            List<Long> k = Containers.children(nsenter.pid());
            if (!k.isEmpty() && Procfs.stat(k.getFirst()).map(s -> s.comm().equals("sleep")).orElse(false)) joined = k.getFirst();
            else Procfs.sleep(java.time.Duration.ofMillis(10));
        }
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(c.init()), "-o", tmp.resolve("joined.img").toString()).assertOneLineError();
        assertTrue(line.contains("task " + joined + ": ") && line.contains("setns"), line);
        assertStillRunning(c, "box5");
        Containers.kill(c.init());
        nsenter.awaitExit(Timeouts.EXIT);
    }

    /**
     * Tasks of a container that made a time, cgroup or user namespace of their own (unshare(1) inside): cryo
     * cannot recreate those, and a task put back in cryo's time namespace would sleep to a deadline off by its
     * offset — one line each, the container running on.
     */
    @Test
    void tasksWithATimeCgroupOrUserNamespaceOfTheirOwnAreRefused() throws Exception {
        Instant t0 = Instant.now();
        Proc u = cleanup.start("unshare", new ProcessBuilder("unshare", "--fork", "--pid", "--mount-proc", "--uts", "--ipc", "sh", "-c",
                "unshare -T sleep 100001 & unshare -C sleep 100002 & unshare -U sleep 100003 & echo READY; while :; do sleep 1; done")
                .redirectInput(Path.of("/dev/null").toFile()));
        u.await("READY", l -> l.equals("READY"));
        long init = Containers.children(u.pid()).getFirst();
        cleanup.foreign(init, t0, "container init");
        subreaper.track(List.of(init));
        Map<String, Long> own = new java.util.TreeMap<>();
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (own.size() < 3) {
            assertTrue(System.nanoTime() < deadline, "the three unshared sleeps did not start: " + own);
            for (long k : Containers.children(init)) {
                String cmd = java.nio.file.Files.readString(Path.of("/proc/" + k + "/cmdline")).replace('\0', ' ').trim();
                if (cmd.matches("sleep 10000[123]")) own.put(cmd, k);
            }
            Procfs.sleep(java.time.Duration.ofMillis(10));
        }
        Cryo.Result r = Cryo.run(cleanup, "checkpoint", Long.toString(init), "-o", tmp.resolve("own.img").toString());
        assertTrue(r.exit() != 0, r::describe);
        String err = r.stderr();
        for (var e : Map.of("sleep 100001", "time", "sleep 100002", "cgroup", "sleep 100003", "user").entrySet()) {
            long pid = own.get(e.getKey());
            assertTrue(r.stderrLines().stream().anyMatch(l -> l.contains("task " + pid + ": ") && l.contains(e.getValue() + " namespace of its own")), err);
        }
        assertFalse(java.nio.file.Files.exists(tmp.resolve("own.img")), "no image");
        assertTrue(Procfs.alive(init), "the container runs on");
        for (long pid : own.values()) assertTrue(Procfs.alive(pid), "its task " + pid + " runs on");
        Containers.kill(init);
        u.awaitExit(Timeouts.EXIT);
    }

    @Test
    void inTheForegroundCryoWaitsForTheNewInitAndExitsWithItsStatus() {
        Path stop = tmp.resolve("stop");
        Instant t0 = Instant.now();
        Proc u = cleanup.start("unshare", new ProcessBuilder("unshare", "--fork", "--pid", "--mount-proc", "--uts", "--ipc", "sh", "-c",
                "echo READY; while [ ! -e " + stop + " ]; do sleep 0.02; done; exit 7").redirectInput(Path.of("/dev/null").toFile()));
        u.await("READY", l -> l.equals("READY"));
        long init = Containers.children(u.pid()).getFirst();
        cleanup.foreign(init, t0, "container init");
        Path image = tmp.resolve("fg.img");
        Cryo.checkpoint(cleanup, init, image);
        u.awaitExit(Timeouts.EXIT);
        ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), "restart", image.toString()))
                .directory(Cryo.root().toFile()).redirectInput(Path.of("/dev/null").toFile());
        Cryo.environment(pb, Map.of());
        Proc fg = cleanup.start("cryo restart", pb);
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        long fgInit = -1;
        while (fgInit < 0) {
            assertTrue(System.nanoTime() < deadline && fg.isAlive(), () -> "no restored init under cryo restart: " + fg.tails());
            List<Long> k = Containers.children(fg.pid());
            if (k.size() == 1 && Containers.nsPidIfAlive(k.getFirst()) == 1 && Procfs.tracerPid(k.getFirst()) == 0) fgInit = k.getFirst();
            else Procfs.sleep(java.time.Duration.ofMillis(10));
        }
        cleanup.foreign(fgInit, t0, "restored container init");
        Containers.run(List.of("touch", stop.toString()));
        assertEquals(7, fg.awaitExit(Timeouts.EXIT), () -> "cryo restart exits with the init's status: " + fg.tails());
    }

    private void assertStillRunning(Containers.Running c, String hostname) {
        Path p = tmp.resolve("p." + hostname);
        Containers.awaitBeyond(p, Containers.values(p).getLast() + 10);
        for (long m : List.of(c.init())) assertEquals(0, Procfs.tracerPid(m), "released");
    }
}
