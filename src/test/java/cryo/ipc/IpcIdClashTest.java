package cryo.ipc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.sys.SysException;
import cryo.sys.SysvIpc;
import cryo.task.TreeFixtures;
import cryo.testing.Cryo;
import cryo.testing.Leftovers;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Restart in cryo's IPC namespace when the image's objects are already there. An id in use is refused before
 * anything is created, with one line naming it (message queue, then semaphore set, then shared memory
 * segment, as each original is removed in turn); --new-ipc-namespace restores beside the originals. A restart
 * that fails after it created some objects (another object holds a key of the image; a queue limit above
 * msgmnb that cryo, without CAP_SYS_RESOURCE, cannot set) removes them again and leaves the namespace as it
 * found it — including /proc/sys/kernel/*_next_id, which cryo writes right before each get: one left set
 * gives the next object anybody creates that id.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class IpcIdClashTest extends IpcTestSupport {

    private IpcFixture.Running startAndCheckpoint(String name) {
        IpcFixture.Running r = IpcFixture.startHost(cleanup, subreaper, ipc, exe());
        IpcFixture.checkOk(r.proc(), "before the checkpoint");
        checkpoint(r, name, "--ipc", "msg:" + r.msg() + ",sem:" + r.sem());
        return r;
    }

    /**
     * A restart of image that must fail: one error line (returned), no process left, no pid of the tree in use,
     * the IPC objects of cryo's namespace exactly as before, and no *_next_id left set.
     */
    private String restartFails(IpcFixture.Running r, Path image, String what) {
        // a failed restart before this one may have left a process of the tree dying (PID 1 reaps slowly)
        TreeFixtures.awaitAllGone(r.pids(), Duration.ofSeconds(60));
        List<String> before = SysvObjects.names(0);
        subreaper.off(); // an orphan of the failed restart must show up as a leftover, not as the JVM's child
        try {
            Leftovers procs = Leftovers.snapshot();
            String line = Cryo.restartExpectingFailure(cleanup, image, r.root()).assertOneLineError();
            System.out.println("[IpcIdClashTest] " + what + ": " + line);
            procs.assertNone(cleanup, "a restart that failed on " + what);
            for (long p : r.pids()) assertFalse(Procfs.alive(p), what + ": the failed restart left pid " + p + " running");
            assertEquals(before, SysvObjects.names(0), what + ": the failed restart changed cryo's IPC namespace");
            staleNextIds(what);
            return line;
        } finally {
            subreaper.on();
        }
    }

    /** Problems found by {@link #staleNextIds}, reported at the end of the test (so the rest still runs). */
    private final List<String> stale = new ArrayList<>();

    /**
     * cryo writes *_next_id right before each get: a failed restart must not leave one set, or the next object
     * anyone creates in the namespace gets that id. The kernel accepts no -1 (only a successful get clears
     * it), so a stale one found here is consumed by creating and removing a private object of that kind.
     */
    private void staleNextIds(String what) {
        for (String k : List.of("msg", "sem", "shm")) {
            String v = SysvObjects.sysctl(0, k + "_next_id");
            if (v.equals("-1")) continue;
            stale.add(what + ": the failed restart left /proc/sys/kernel/" + k + "_next_id = " + v);
            try {
                switch (k) {
                    case "msg" -> SysvIpc.msgrmid(SysvIpc.msgget(SysvIpc.IPC_PRIVATE, SysvIpc.IPC_CREAT | 0600));
                    case "sem" -> SysvIpc.semrmid(SysvIpc.semget(SysvIpc.IPC_PRIVATE, 1, SysvIpc.IPC_CREAT | 0600));
                    default -> SysvIpc.shmrmid(SysvIpc.shmget(SysvIpc.IPC_PRIVATE, 4096, SysvIpc.IPC_CREAT | 0600));
                }
            } catch (SysException e) {
                throw new AssertionError("cannot consume the stale " + k + "_next_id: " + e.getMessage(), e);
            }
            assertEquals("-1", SysvObjects.sysctl(0, k + "_next_id"), "consuming the stale " + k + "_next_id");
        }
    }

    private void assertNoStaleNextIds() {
        assertTrue(stale.isEmpty(), String.join("\n", stale));
    }

    /** CAP_SYS_RESOURCE (24) in this JVM's effective set, which cryo, started by it, inherits. */
    static boolean hasCapSysResource() {
        String eff = Procfs.statusField(ProcessHandle.current().pid(), "CapEff").orElse("0");
        return (Long.parseUnsignedLong(eff, 16) & (1L << 24)) != 0;
    }

    @Test
    void anIdInUseIsAOneLineErrorAndNewIpcNamespaceRestoresBesideIt() {
        IpcFixture.Running r = startAndCheckpoint("clash");
        Path image = tmp.resolve("clash.img");
        Map<String, SysvObjects.Obj> originals = ours(r, 0);
        assertEquals(List.of("MSG:" + r.msg(), "SEM:" + r.sem(), "SHM:" + r.shm()), List.copyOf(originals.keySet()),
                "the originals outlive the killed tree");

        String line = restartFails(r, image, "all three ids in use");
        assertEquals("cryo: message queue " + r.msg() + " is in use on this host (restart with --new-ipc-namespace)", line);

        Proc rest = restart(r, image, "--new-ipc-namespace");
        String ns = SysvObjects.namespaceOf(r.root());
        assertNotEquals(SysvObjects.namespaceOf(0), ns, "--new-ipc-namespace: the tree is in a new IPC namespace");
        assertEquals(ns, SysvObjects.namespaceOf(r.child()));
        r.ownAll(ipc, r.root());
        assertFixtureObjects(r, r.root(), "the new namespace");
        IpcFixture.checkOk(rest, "restored beside the originals");
        assertEquals(originals, ours(r, 0), "the originals are untouched");
        assertEquals("7 0 32767 8", IpcFixture.quit(rest));
        awaitGone(r);

        SysvObjects.removeNow(SysvObjects.Kind.MSG, r.msg());
        line = restartFails(r, image, "the set's and the segment's ids in use");
        assertEquals("cryo: semaphore set " + r.sem() + " is in use on this host (restart with --new-ipc-namespace)", line);
        SysvObjects.removeNow(SysvObjects.Kind.SEM, r.sem());
        line = restartFails(r, image, "the segment's id in use");
        assertEquals("cryo: shared memory segment " + r.shm() + " is in use on this host (restart with --new-ipc-namespace)", line);
        SysvObjects.removeNow(SysvObjects.Kind.SHM, r.shm());

        Proc last = restart(r, image);
        assertEquals(SysvObjects.namespaceOf(0), SysvObjects.namespaceOf(r.root()), "without the option: cryo's namespace");
        assertFixtureObjects(r, 0, "restored in cryo's namespace once the ids are free");
        IpcFixture.checkOk(last, "restored in cryo's namespace");
        IpcFixture.quit(last);
        awaitGone(r);
        assertTrue(ours(r, 0).isEmpty());
        assertNoStaleNextIds();
    }

    @Test
    void aRestartThatFailsAfterCreatingObjectsRemovesThem() throws SysException {
        IpcFixture.Running r = startAndCheckpoint("keys");
        Path image = tmp.resolve("keys.img");
        SysvObjects.removeNow(SysvObjects.Kind.MSG, r.msg());
        SysvObjects.removeNow(SysvObjects.Kind.SEM, r.sem());
        SysvObjects.removeNow(SysvObjects.Kind.SHM, r.shm());

        // another set takes the image's semaphore key (at another id): the queue, created before it, must go
        int semKey = r.key(SysvObjects.Kind.SEM);
        int otherSet = SysvIpc.semget(semKey, 1, SysvIpc.IPC_CREAT | SysvIpc.IPC_EXCL | 0600);
        ipc.own(SysvObjects.Kind.SEM, otherSet, semKey);
        assertNotEquals(r.sem(), otherSet);
        String line = restartFails(r, image, "the semaphore set's key in use");
        assertTrue(line.contains("semaphore set " + r.sem()) && line.contains(Integer.toHexString(semKey)),
                "the error names the set and its key: " + line);
        SysvIpc.semrmid(otherSet);

        // another segment takes the image's segment key: the queue and the set must go
        int shmKey = r.key(SysvObjects.Kind.SHM);
        int otherSeg = SysvIpc.shmget(shmKey, 4096, SysvIpc.IPC_CREAT | SysvIpc.IPC_EXCL | 0600);
        ipc.own(SysvObjects.Kind.SHM, otherSeg, shmKey);
        line = restartFails(r, image, "the segment's key in use");
        assertTrue(line.contains("shared memory segment " + r.shm()) && line.contains(Integer.toHexString(shmKey)),
                "the error names the segment and its key: " + line);
        SysvIpc.shmrmid(otherSeg);

        // a queue limit (qbytes) above msgmnb: IPC_SET needs CAP_SYS_RESOURCE for it. Where the tests run as a root
        // without that capability (here), the restart fails after creating the queue, and must remove it
        long msgmnb = Long.parseLong(SysvObjects.sysctl(0, "msgmnb"));
        Path big = tmp.resolve("qbytes.img");
        TreeFixtures.rewrite(image, big, rs -> rs.stream().map(x -> x instanceof IpcRecord q && q.kind() == IpcRecord.Kind.MSG
                ? (ImageRecord) TreeFixtures.with(q, "times", new long[] {q.times()[0], q.times()[1], q.times()[2], msgmnb + 1})
                : x).toList());
        if (!hasCapSysResource()) {
            line = restartFails(r, big, "a queue limit above msgmnb without CAP_SYS_RESOURCE");
            assertTrue(line.contains("message queue " + r.msg()) || line.contains("msgctl(" + r.msg()),
                    "the error names the queue: " + line);
        }

        // and the image restarts once the keys are free
        List<String> before = new ArrayList<>(SysvObjects.names(0));
        Proc rest = restart(r, image);
        IpcFixture.checkOk(rest, "restored once the keys are free");
        IpcFixture.quit(rest);
        awaitGone(r);
        assertEquals(before, SysvObjects.names(0));
        assertNoStaleNextIds();
    }
}
