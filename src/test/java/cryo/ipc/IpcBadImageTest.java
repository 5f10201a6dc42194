package cryo.ipc;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.task.TreeFixtures;
import cryo.testing.Cryo;
import cryo.testing.Leftovers;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;

/**
 * Images whose IPC records break the kernel series' rules — re-encoded with cryo's own image classes from a
 * good image of the ipc fixture (queue and set taken with --ipc, segments attached), so the stream itself is
 * valid — are refused with one error line naming what is wrong, before anything is created: no process, no IPC
 * object (cryo's namespace lists exactly what it listed before), no *_next_id left set. The unmodified
 * re-encoded image restarts, so the failures come from the changes.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class IpcBadImageTest extends IpcTestSupport {

    /** Takes a good image, tmp/good.img; the originals are removed, so the ids are free in cryo's namespace. */
    private IpcFixture.Running goodImage() {
        IpcFixture.Running r = IpcFixture.startHost(cleanup, subreaper, ipc, exe());
        IpcFixture.checkOk(r.proc(), "before the checkpoint");
        checkpoint(r, "good", "--ipc", "msg:" + r.msg() + ",sem:" + r.sem());
        SysvObjects.removeNow(SysvObjects.Kind.MSG, r.msg());
        SysvObjects.removeNow(SysvObjects.Kind.SEM, r.sem());
        SysvObjects.removeNow(SysvObjects.Kind.SHM, r.shm());
        return r;
    }

    /** Replaces the IPC record of kind:id. */
    private static UnaryOperator<List<ImageRecord>> ipcRecord(IpcRecord.Kind kind, int id, UnaryOperator<IpcRecord> change) {
        return rs -> {
            List<ImageRecord> out = new ArrayList<>();
            boolean found = false;
            for (ImageRecord r : rs) {
                if (r instanceof IpcRecord i && i.kind() == kind && i.id() == id) {
                    out.add(change.apply(i));
                    found = true;
                } else out.add(r);
            }
            assertTrue(found, "no IPC record " + kind + ":" + id);
            return out;
        };
    }

    /** Changes message #index of the queue (type and body), keeping q_cbytes the sum of the bodies. */
    private static UnaryOperator<List<ImageRecord>> message(int msq, int index, long type, byte[] body) {
        return ipcRecord(IpcRecord.Kind.MSG, msq, q -> {
            List<IpcRecord.Message> ms = new ArrayList<>(q.messages());
            long size = q.size() - ms.get(index).body().length + body.length;
            ms.set(index, new IpcRecord.Message(type, body));
            return TreeFixtures.with(q, Map.of("messages", ms, "size", size));
        });
    }

    /** Changes the first SHM_PAGES record of segment id. */
    private static UnaryOperator<List<ImageRecord>> firstShmPages(int id, Map<String, Object> changes) {
        return rs -> {
            List<ImageRecord> out = new ArrayList<>();
            boolean done = false;
            for (ImageRecord r : rs) {
                if (!done && r instanceof ShmPagesRecord p && p.id() == id) {
                    out.add(TreeFixtures.with(p, changes));
                    done = true;
                } else out.add(r);
            }
            assertTrue(done, "no SHM_PAGES record of segment " + id);
            return out;
        };
    }

    /** A rewrite, or a byte patch for what cryo's encoder cannot write. */
    private record Variant(Consumer<Path> write, List<String> hints) {}

    private Variant rewrite(Path good, UnaryOperator<List<ImageRecord>> change, String... hints) {
        return new Variant(out -> TreeFixtures.rewrite(good, out, change), List.of(hints));
    }

    @Test
    void badIpcRecordsAreRejectedBeforeAnythingIsCreated() {
        IpcFixture.Running r = goodImage();
        Path good = tmp.resolve("good.img");
        subreaper.off(); // from here on, an orphan of a failed restart must show up as a leftover
        int msgmax = Integer.parseInt(SysvObjects.sysctl(0, "msgmax"));
        IpcRecord queue = IpcFixture.ipcRecords(good).getFirst();
        assertEquals(IpcRecord.Kind.MSG, queue.kind());

        Map<String, Variant> variants = new LinkedHashMap<>();
        variants.put("a message of type 0", rewrite(good, message(r.msg(), 2, 0, queue.messages().get(2).body()),
                "messages[2].type", "at least 1"));
        variants.put("a message of type -1", rewrite(good, message(r.msg(), 5, -1, queue.messages().get(5).body()),
                "messages[5].type", "at least 1"));
        variants.put("a message type of Long.MIN_VALUE (as a u64: above LONG_MAX)",
                rewrite(good, message(r.msg(), 0, Long.MIN_VALUE, new byte[0]), "messages[0].type"));
        variants.put("q_cbytes one more than the messages hold",
                rewrite(good, ipcRecord(IpcRecord.Kind.MSG, r.msg(), q -> TreeFixtures.with(q, "size", q.size() + 1)),
                        "q_cbytes", "" + (r.cbytes() + 1)));
        variants.put("q_cbytes one less than the messages hold",
                rewrite(good, ipcRecord(IpcRecord.Kind.MSG, r.msg(), q -> TreeFixtures.with(q, "size", q.size() - 1)),
                        "q_cbytes", "" + (r.cbytes() - 1)));
        variants.put("a message one byte longer than msgmax", rewrite(good, message(r.msg(), 3, 3, new byte[msgmax + 1]),
                "msgmax", "" + (msgmax + 1)));
        variants.put("a semaphore value of 32768 (SEMVMX + 1)",
                new Variant(out -> ImagePatch.semValue(good, out, r.sem(), 2, 32768), List.of("values[2]", "32768")));
        variants.put("a semaphore value of 65535",
                new Variant(out -> ImagePatch.semValue(good, out, r.sem(), 1, 65535), List.of("values[1]", "65535")));
        variants.put("a negative semaphore value",
                rewrite(good, ipcRecord(IpcRecord.Kind.SEM, r.sem(), s -> TreeFixtures.with(s, "values", new short[] {7, 0, -1, 8})),
                        "values[2]"));
        variants.put("a semaphore set without semaphores",
                rewrite(good, ipcRecord(IpcRecord.Kind.SEM, r.sem(), s -> TreeFixtures.with(s, "values", new short[0])), "values"));
        variants.put("a segment larger than any shmmax (2^46 + 4096 bytes)",
                rewrite(good, ipcRecord(IpcRecord.Kind.SHM, r.shm(), s -> TreeFixtures.with(s, "size", (1L << 46) + 4096)),
                        "size", "" + ((1L << 46) + 4096)));
        variants.put("a segment of 0 bytes", rewrite(good, ipcRecord(IpcRecord.Kind.SHM, r.shm(), s -> TreeFixtures.with(s, "size", 0L)),
                "size"));
        variants.put("SHM_PAGES past the end of the segment", rewrite(good, firstShmPages(r.shm(), Map.of("offset", 12288L)),
                "past the end", "12288"));
        variants.put("SHM_PAGES far past the end of the segment", rewrite(good, firstShmPages(r.shm(), Map.of("offset", 1L << 40)),
                "past the end", "" + (1L << 40)));
        variants.put("SHM_PAGES at an offset that is not page aligned", rewrite(good, firstShmPages(r.shm(), Map.of("offset", 100L)),
                "offset", "aligned"));
        variants.put("SHM_PAGES of a segment that has no IPC record", rewrite(good, firstShmPages(r.shm(), Map.of("id", 99999)),
                "99999"));

        List<Executable> checks = new ArrayList<>();
        int i = 0;
        for (var v : variants.entrySet()) {
            Path bad = tmp.resolve("bad-" + (i++) + ".img");
            v.getValue().write().accept(bad);
            checks.add(() -> {
                String line = refused(r, bad, v.getKey());
                assertTrue(v.getValue().hints().stream().allMatch(line::contains),
                        "the error for " + v.getKey() + " names what is wrong (all of " + v.getValue().hints() + "): " + line);
            });
        }
        assertAll("bad IPC records", checks.stream());

        // control: the same image re-encoded without change restarts, and the fixture's check passes
        subreaper.on();
        Path same = tmp.resolve("same.img");
        TreeFixtures.rewrite(good, same, UnaryOperator.identity());
        Proc rest = restart(r, same);
        IpcFixture.checkOk(rest, "the re-encoded good image");
        IpcFixture.quit(rest);
        awaitGone(r);
    }

    /**
     * Restarts a bad image: one error line (returned), no process left, cryo's IPC namespace as before, no
     * *_next_id set.
     */
    private String refused(IpcFixture.Running r, Path bad, String what) {
        try {
            TreeFixtures.awaitAllGone(r.pids(), Duration.ofSeconds(60));
        } catch (AssertionError e) {
            throw new AssertionError("before trying an image with " + what + ", an earlier variant left: " + e.getMessage(), e);
        }
        List<String> before = SysvObjects.names(0);
        Leftovers procs = Leftovers.snapshot();
        String line;
        try {
            line = Cryo.restartExpectingFailure(cleanup, bad, r.root()).assertOneLineError();
        } catch (AssertionError e) {
            throw new AssertionError("restart of an image with " + what + ": " + e.getMessage(), e);
        }
        System.out.println("[IpcBadImageTest] " + what + ": " + line);
        for (long p : r.pids()) assertFalse(Procfs.alive(p), what + ": pid " + p + " runs");
        procs.assertNone(cleanup, "restart of an image with " + what);
        assertEquals(before, SysvObjects.names(0), what + ": cryo's IPC namespace changed");
        for (String k : List.of("msg", "sem", "shm"))
            assertEquals("-1", SysvObjects.sysctl(0, k + "_next_id"), what + ": " + k + "_next_id is left set");
        return line;
    }

    /**
     * shmmax of cryo's namespace is far above any real segment here, so this runs cryo restart in an IPC
     * namespace of its own whose shmmax is lowered to 8192 (the image's segment has 12388 bytes), and lists that
     * namespace's objects after the refusal.
     */
    @Test
    void aSegmentAboveShmmaxIsRejectedBeforeAnythingIsCreated() {
        IpcFixture.Running r = goodImage();
        Path good = tmp.resolve("good.img");
        subreaper.off();
        TreeFixtures.awaitAllGone(r.pids(), Duration.ofSeconds(60));
        Leftovers procs = Leftovers.snapshot();
        List<String> before = SysvObjects.names(0);
        String script = "echo 8192 > /proc/sys/kernel/shmmax || exit 99; \"$0\" restart \"$1\" < /dev/null; rc=$?; "
                + "echo '--- objects'; tail -q -n +2 /proc/sysvipc/msg /proc/sysvipc/sem /proc/sysvipc/shm; "
                + "echo '--- next ids'; cat /proc/sys/kernel/msg_next_id /proc/sys/kernel/sem_next_id /proc/sys/kernel/shm_next_id; exit $rc";
        List<String> cmd = List.of("unshare", "--ipc", "sh", "-c", script, Cryo.bin().toString(), good.toString());
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of());
        pb.redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        cleanup.foreign(r.root(), r.started(), "restored ipc root");
        Cryo.Result res = Cryo.collect(cleanup, cmd, pb);
        String line = res.assertOneLineError();
        System.out.println("[IpcBadImageTest] a segment above shmmax: " + line);
        assertTrue(line.contains("shared memory segment " + r.shm()) && line.contains("shmmax") && line.contains("12388"),
                "the error names the segment, its size and shmmax: " + line);
        String out = res.stdout();
        assertEquals("--- objects\n--- next ids\n-1\n-1\n-1\n", out, "nothing was created in the namespace cryo restored into");
        procs.assertNone(cleanup, "a restart refused for shmmax");
        for (long p : r.pids()) assertFalse(Procfs.alive(p), "pid " + p + " runs");
        assertEquals(before, SysvObjects.names(0), "the host namespace is untouched");
        subreaper.on();
    }

    /**
     * Observed behaviour, documented: in a NEW IPC namespace (--new-ipc-namespace, or an own-namespace image)
     * cryo does not refuse a message longer than the host's msgmax: it raises msgmax in the new namespace to
     * the longest message and restores it.
     */
    @Test
    void aMessageAboveMsgmaxIsRestoredInANewNamespaceWithMsgmaxRaised() {
        IpcFixture.Running r = goodImage();
        Path good = tmp.resolve("good.img");
        int msgmax = Integer.parseInt(SysvObjects.sysctl(0, "msgmax"));
        Path big = tmp.resolve("big-message.img");
        TreeFixtures.rewrite(good, big, message(r.msg(), 3, 3, new byte[msgmax + 100]));
        Proc rest = restart(r, big, "--new-ipc-namespace");
        r.ownAll(ipc, r.root());
        assertEquals("" + (msgmax + 100), SysvObjects.sysctl(r.root(), "msgmax"), "msgmax of the new namespace");
        assertEquals("" + msgmax, SysvObjects.sysctl(0, "msgmax"), "msgmax of cryo's namespace is untouched");
        SysvObjects.Obj q = SysvObjects.list(r.root()).get("MSG:" + r.msg());
        assertEquals(r.cbytes() + 100, q.num("cbytes"), "the longer message is in the queue");
        assertEquals(r.messages(), q.num("qnum"));
        // the fixture itself would now find message #3 changed: stop it without a check
        rest.process().destroyForcibly();
        cleanupNow(r);
    }

    private void cleanupNow(IpcFixture.Running r) {
        for (long p : r.pids()) Os.kill(p, Os.SIGKILL);
        awaitGone(r);
    }
}
