package cryo.ipc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Timeouts;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Starting and driving src/test/c/ipc.c: a root and its child holding a message queue, a semaphore set, a
 * shared memory segment attached rw and ro in both, and a destroyed segment attached by the root. See the
 * protocol at the top of ipc.c.
 */
final class IpcFixture {
    private IpcFixture() {}

    /** What the fixture printed at start. */
    record Running(Proc proc, long root, long child, int msg, int sem, int shm, int dshm, int keybase, int messages,
            long cbytes, long msgmax, Instant started) {
        List<Long> pids() {
            return List.of(root, child);
        }

        int key(SysvObjects.Kind k) {
            return switch (k) {
                case MSG -> keybase + 1;
                case SEM -> keybase + 2;
                case SHM -> keybase + 3;
            };
        }

        int idOf(SysvObjects.Kind k) {
            return switch (k) {
                case MSG -> msg;
                case SEM -> sem;
                case SHM -> shm;
            };
        }

        /** Registers the four objects, in the namespace of process nsPid, for removal after the test. */
        void ownAll(SysvObjects ipc, long nsPid) {
            for (SysvObjects.Kind k : SysvObjects.Kind.values()) ipc.own(nsPid, k, idOf(k), key(k));
            ipc.own(nsPid, SysvObjects.Kind.SHM, dshm, 0);
        }

        /** The ids of the namespace's objects: "MSG:id", ... (the destroyed segment only while it lives). */
        List<String> objectKeys(boolean withDestroyed) {
            List<String> l = new ArrayList<>(List.of("MSG:" + msg, "SEM:" + sem, "SHM:" + shm));
            if (withDestroyed) l.add("SHM:" + dshm);
            return l;
        }
    }

    static Path build(Path dir) {
        return Fixtures.compile(dir, "ipc", Fixtures.Build.PIE);
    }

    /**
     * Starts {@code prefix... ipc args...} from the JVM and reads its start lines; the child is registered with
     * Cleanup (by pid) and the Subreaper, and the four objects with {@code ipc} for removal after the test (in
     * the root's namespace: once the tree is gone, a namespace of its own goes with it unless the caller
     * registers them again through a process that keeps it).
     */
    static Running start(Cleanup cleanup, Subreaper subreaper, SysvObjects ipc, Path exe, List<String> prefix,
            String... args) {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.add(exe.toString());
        cmd.addAll(List.of(args));
        Instant t0 = Instant.now();
        Proc p = cleanup.start("ipc", new ProcessBuilder(cmd));
        int msg = -1, sem = -1, shm = -1, dshm = -1, keybase = 0, messages = 0;
        long child = -1, cbytes = 0, msgmax = 0;
        while (true) {
            String l = p.await("IDS/CHILD/READY", s -> s.startsWith("IDS ") || s.startsWith("MSG ") || s.startsWith("CHILD ")
                    || s.startsWith("READY ") || s.startsWith("FAIL"));
            if (l.startsWith("FAIL")) throw new AssertionError("the ipc fixture failed to start: " + l + "\n" + p.tails());
            if (l.startsWith("IDS ")) {
                Map<String, String> f = TreeFixtures.fields(l.substring(4));
                msg = Integer.parseInt(f.get("msg"));
                sem = Integer.parseInt(f.get("sem"));
                shm = Integer.parseInt(f.get("shm"));
                dshm = Integer.parseInt(f.get("dshm"));
                keybase = Integer.parseUnsignedInt(f.get("keybase").substring(2), 16);
            } else if (l.startsWith("MSG ")) {
                String[] f = l.split(" ");
                messages = Integer.parseInt(f[1]);
                cbytes = Long.parseLong(f[2]);
                msgmax = Long.parseLong(f[3]);
            } else if (l.startsWith("CHILD ")) {
                child = Long.parseLong(l.substring(6).trim());
                subreaper.foreign(cleanup, List.of(child), t0, "ipc fixture child");
            } else {
                assertEquals(p.pid(), Long.parseLong(l.substring(6).trim()), "the fixture's root is the process the JVM started");
                break;
            }
        }
        Running r = new Running(p, p.pid(), child, msg, sem, shm, dshm, keybase, messages, cbytes, msgmax, t0);
        r.ownAll(ipc, SysvObjects.namespaceOf(r.root()).equals(SysvObjects.namespaceOf(0)) ? 0 : r.root());
        return r;
    }

    static Running startHost(Cleanup cleanup, Subreaper subreaper, SysvObjects ipc, Path exe) {
        return start(cleanup, subreaper, ipc, exe, List.of());
    }

    /**
     * Sends "check" and returns the FAIL lines of the answer (empty when it ends with OK). Fails if no answer
     * comes.
     */
    static List<String> check(Proc p) {
        p.send("check");
        List<String> fails = new ArrayList<>();
        while (true) {
            String l = p.await("the answer to 'check'", s -> true);
            if (l.startsWith("FAIL ")) fails.add(l);
            else if (l.equals("OK")) {
                assertTrue(fails.isEmpty(), "OK after FAIL lines: " + fails);
                return fails;
            } else if (l.startsWith("FAILED")) return fails;
        }
    }

    /** Sends "check" and expects OK. */
    static void checkOk(Proc p, String what) {
        List<String> fails = check(p);
        if (!fails.isEmpty())
            throw new AssertionError(what + ": the fixture's check found problems:\n  " + String.join("\n  ", fails));
    }

    /**
     * Sends "quit": the child exits, the root prints the semaphore values after that ("SEMS ...", returned),
     * removes its objects and exits 0.
     */
    static String quit(Proc p) {
        p.send("quit");
        String sems = p.await("SEMS", s -> s.startsWith("SEMS ") || s.startsWith("FAIL"));
        assertTrue(sems.startsWith("SEMS "), () -> "at quit: " + sems + "\n" + p.tails());
        String bye = p.await("BYE", s -> s.startsWith("BYE ") || s.startsWith("FAIL"));
        assertEquals("BYE 0", bye, "the child exited 0 and the root removed its objects");
        assertEquals(0, p.awaitExit(Timeouts.EXIT), () -> "the fixture's exit status; " + p.tails());
        return sems.substring(5);
    }

    // ------------------------------------------------------------------ images

    /** The IPC records of an image, in order. */
    static List<IpcRecord> ipcRecords(Path image) {
        return TreeFixtures.withRecords(image, rs -> {
            List<IpcRecord> l = new ArrayList<>();
            for (ImageRecord r : rs)
                if (r instanceof IpcRecord i) l.add(i);
            return l;
        });
    }

    /** "KIND:id" of every IPC record of an image, in order. */
    static List<String> ipcNames(Path image) {
        return ipcRecords(image).stream().map(i -> i.kind() + ":" + i.id()).toList();
    }

    /** The lines of {@code cryo show IMAGE} that start with prefix. */
    static List<String> show(Cleanup cleanup, Path image, String prefix) {
        String out = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        return out.lines().filter(l -> l.startsWith(prefix)).toList();
    }
}
