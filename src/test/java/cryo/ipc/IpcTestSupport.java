package cryo.ipc;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the SysV IPC tests share: the Subreaper and Cleanup extensions (every process killed by pid after
 * each test), the IPC objects each test created or had cryo create (removed by id in {@code @AfterEach},
 * pass or fail: that runs before Cleanup kills the processes, so namespaces kept by a live process can still
 * be entered), and the checkpoint/restart steps.
 */
abstract class IpcTestSupport {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    final SysvObjects ipc = new SysvObjects();

    @TempDir
    Path tmp;

    @BeforeEach
    void needs() {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("ipcrm");
        Fixtures.assumeTool("nsenter");
        Fixtures.assumeTool("unshare");
    }

    @AfterEach
    void removeIpcObjects() {
        ipc.removeAll();
    }

    Path exe() {
        return IpcFixture.build(tmp);
    }

    /** Checkpoints the fixture; unless extra holds --leave-running, waits until its two processes are gone. */
    Path checkpoint(IpcFixture.Running r, String name, String... extra) {
        return checkpoint(r, r.proc(), name, extra);
    }

    /**
     * Checkpoints the fixture, whose root is the child of {@code parent} (the fixture itself as the JVM started
     * it, or the {@code cryo restart} that restored it); unless extra holds --leave-running, waits until
     * parent exits and the two processes are gone.
     */
    Path checkpoint(IpcFixture.Running r, Proc parent, String name, String... extra) {
        Path image = tmp.resolve(name + ".img");
        Cryo.checkpoint(cleanup, r.root(), image, extra);
        if (!List.of(extra).contains("--leave-running")) {
            int status = parent.awaitExit(Timeouts.EXIT);
            if (parent == r.proc()) assertEquals(128 + Os.SIGKILL, status, "the tree is killed after the checkpoint");
            TreeFixtures.awaitAllGone(r.pids(), Duration.ofSeconds(30));
        }
        return image;
    }

    /**
     * {@code cryo restart [extra...] IMAGE} in the foreground; waits until the restored root answers (its parent
     * is cryo restart) and both processes run untraced.
     */
    Proc restart(IpcFixture.Running r, Path image, String... extra) {
        // a failed restart before this one may have left a process of the tree dying (PID 1 reaps slowly)
        TreeFixtures.awaitAllGone(r.pids(), Duration.ofSeconds(60));
        Instant t0 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, r.root(), extra);
        subreaper.foreign(cleanup, List.of(r.child()), t0, "restored ipc child");
        rest.send("ppid");
        String l = rest.await("PPID", s -> s.startsWith("PPID "));
        assertEquals(rest.pid(), Long.parseLong(l.substring(5).trim()), "the restored root's parent is cryo restart");
        for (long pid : r.pids()) Procfs.assertRunningUntraced(pid, "restored pid " + pid);
        assertEquals(r.root(), Procfs.ppid(r.child()), "the restored child's parent is the restored root");
        return rest;
    }

    /** Waits until both processes of the fixture are gone (after quit, or a kill). */
    void awaitGone(IpcFixture.Running r) {
        TreeFixtures.awaitAllGone(r.pids(), Duration.ofSeconds(30));
    }

    /** The fixture's objects that exist in the JVM's namespace, by "KIND:id". */
    static Map<String, SysvObjects.Obj> ours(IpcFixture.Running r, long nsPid) {
        Map<String, SysvObjects.Obj> all = SysvObjects.list(nsPid);
        all.keySet().retainAll(r.objectKeys(true));
        return all;
    }

    /**
     * The objects of the namespace of nsPid (0: cryo's) are the fixture's four, with its ids, keys, owners, modes
     * and sizes, attached 4 times and once (the second destroyed): what restart must recreate.
     */
    static void assertFixtureObjects(IpcFixture.Running r, long nsPid, String what) {
        Map<String, SysvObjects.Obj> all = SysvObjects.list(nsPid);
        for (String k : r.objectKeys(true)) assertTrue(all.containsKey(k), what + ": " + k + " is missing; objects: " + all.keySet());
        SysvObjects.Obj msg = all.get("MSG:" + r.msg()), sem = all.get("SEM:" + r.sem()), shm = all.get("SHM:" + r.shm()),
                dshm = all.get("SHM:" + r.dshm());
        assertEquals(r.key(SysvObjects.Kind.MSG), msg.key(), what + ": the queue's key");
        assertEquals(0640, msg.perms() & 0777, what + ": the queue's mode");
        assertEquals(List.of("1001", "1002"), List.of(msg.get("uid"), msg.get("gid")), what + ": the queue's owner");
        assertEquals(r.messages(), msg.num("qnum"), what + ": messages in the queue");
        assertEquals(r.cbytes(), msg.num("cbytes"), what + ": bytes in the queue");
        assertEquals(r.key(SysvObjects.Kind.SEM), sem.key(), what + ": the semaphore set's key");
        assertEquals(4, sem.num("nsems"), what + ": semaphores in the set");
        assertEquals(0600, sem.perms() & 0777, what + ": the semaphore set's mode");
        assertEquals(List.of("0", "100"), List.of(sem.get("uid"), sem.get("gid")), what + ": the semaphore set's owner");
        assertEquals(r.key(SysvObjects.Kind.SHM), shm.key(), what + ": the segment's key");
        assertEquals(12388, shm.num("size"), what + ": the segment's size");
        assertEquals(0644, shm.perms() & 0777, what + ": the segment's mode");
        assertEquals(List.of("1003", "0"), List.of(shm.get("uid"), shm.get("gid")), what + ": the segment's owner");
        assertEquals(4, shm.num("nattch"), what + ": attachments of the segment (rw and ro in root and child)");
        assertEquals(0, shm.perms() & IpcRecord.SHM_DEST, what + ": the segment is not destroyed");
        assertEquals(0, dshm.key(), what + ": the destroyed segment's key (IPC_PRIVATE)");
        assertEquals(8192, dshm.num("size"), what + ": the destroyed segment's size");
        assertEquals(1, dshm.num("nattch"), what + ": attachments of the destroyed segment");
        assertEquals(IpcRecord.SHM_DEST, dshm.perms() & IpcRecord.SHM_DEST, what + ": the destroyed segment is marked destroyed");
    }
}
