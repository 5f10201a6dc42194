package cryo.ipc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The ipc fixture started in an IPC namespace of its own ({@code unshare --ipc ipc spread}: its objects get
 * ids 3, 5, 7 and 8, not a fresh namespace's first ones). The checkpoint takes the whole namespace without
 * --ipc and marks the image (own_ipc_namespace=true); restart creates a new IPC namespace for the tree with
 * every object at its id, while the original namespace, kept alive by a process outside the tree, still holds
 * its own queue, set and segment with the same ids. The restored tree, in its own namespace again, is
 * checkpointed and restarted a second time.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class IpcOwnNamespaceTest extends IpcTestSupport {

    @Test
    void ownNamespaceRestartsIntoANewNamespaceWithIdenticalIdsWhileTheOriginalStillExists() {
        String host = SysvObjects.namespaceOf(0);
        List<String> hostBefore = SysvObjects.names(0);
        IpcFixture.Running r = IpcFixture.start(cleanup, subreaper, ipc, exe(), List.of("unshare", "--ipc"), "spread");
        String original = SysvObjects.namespaceOf(r.root());
        assertNotEquals(host, original, "the fixture runs in an IPC namespace of its own");
        assertEquals(original, SysvObjects.namespaceOf(r.child()), "the child shares it");
        assertEquals(List.of(3, 5, 7, 8), List.of(r.msg(), r.sem(), r.shm(), r.dshm()), "ids after 'spread'");

        // a process outside the tree keeps the original namespace, and so its objects, once the tree is killed
        Proc holder = cleanup.start("ns holder", new ProcessBuilder("nsenter", "--ipc=/proc/" + r.root() + "/ns/ipc", "sleep", "100000"));
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (!SysvObjects.namespaceOf(holder.pid()).equals(original)) {
            assertTrue(System.nanoTime() < deadline, "nsenter did not enter " + original);
            Procfs.sleep(Duration.ofMillis(10));
        }
        r.ownAll(ipc, holder.pid());
        assertFixtureObjects(r, holder.pid(), "the original namespace");
        IpcFixture.checkOk(r.proc(), "before the checkpoint");

        Path image = checkpoint(r, "own");
        assertTrue(IpcFixture.show(cleanup, image, "HEAD").getFirst().contains("own_ipc_namespace=true"),
                "the image is marked as a tree with its own IPC namespace");
        assertEquals(List.of("MSG:3", "SEM:5", "SHM:7", "SHM:8"), IpcFixture.ipcNames(image),
                "the image holds the whole namespace (no --ipc needed)");
        Map<String, SysvObjects.Obj> kept = ours(r, holder.pid());
        assertEquals(Set.of("MSG:3", "SEM:5", "SHM:7"), kept.keySet(), "the original namespace keeps its objects after the kill");
        assertEquals(hostBefore, SysvObjects.names(0), "cryo's namespace is untouched by the checkpoint");

        Proc rest = restart(r, image);
        String restored = SysvObjects.namespaceOf(r.root());
        assertNotEquals(host, restored, "restored into a namespace that is not cryo's");
        assertNotEquals(original, restored, "restored into a new namespace, not the original one");
        assertEquals(restored, SysvObjects.namespaceOf(r.child()), "the restored child shares the root's new namespace");
        r.ownAll(ipc, r.root());
        assertFixtureObjects(r, r.root(), "the new namespace");
        assertEquals(List.of("MSG:3", "SEM:5", "SHM:7", "SHM:8"), List.copyOf(SysvObjects.list(r.root()).keySet()),
                "the new namespace holds exactly the image's objects");
        IpcFixture.checkOk(rest, "after restart into a new namespace");
        assertEquals(kept, ours(r, holder.pid()), "the original namespace's objects are untouched by the restart");
        assertEquals(hostBefore, SysvObjects.names(0), "cryo's namespace is untouched by the restart");

        // the restored tree is in its own namespace again: it travels again
        Path second = checkpoint(r, rest, "own-again");
        assertTrue(IpcFixture.show(cleanup, second, "HEAD").getFirst().contains("own_ipc_namespace=true"));
        assertEquals(List.of("MSG:3", "SEM:5", "SHM:7", "SHM:8"), IpcFixture.ipcNames(second));
        Proc again = restart(r, second);
        assertNotEquals(original, SysvObjects.namespaceOf(r.root()));
        assertNotEquals(host, SysvObjects.namespaceOf(r.root()));
        r.ownAll(ipc, r.root());
        assertFixtureObjects(r, r.root(), "the second new namespace");
        IpcFixture.checkOk(again, "after the second restart");
        assertEquals("7 0 32767 8", IpcFixture.quit(again), "SEM_UNDO adjustments are not restored");
        awaitGone(r);

        assertEquals(kept, ours(r, holder.pid()), "the original namespace still holds its objects");
        for (SysvObjects.Kind k : SysvObjects.Kind.values()) SysvObjects.remove(holder.pid(), k, r.idOf(k));
        assertTrue(ours(r, holder.pid()).isEmpty(), "removed the original objects: " + ours(r, holder.pid()));
        assertEquals(hostBefore, SysvObjects.names(0), "cryo's namespace never saw the fixture's objects");
    }
}
