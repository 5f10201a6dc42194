package cryo.task;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.image.Tree;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * Images whose TREE is inconsistent — re-encoded with cryo's own image classes from a good image of a parent
 * with four zombie children (src/test/c/zombies.c), so the stream itself (lengths, CRC32C) is valid — are
 * rejected with one error line before anything is created: a parent that is not in the tree, a duplicate
 * pid, a thread without its leader, impossible zombie statuses (the kernel series' valid_exit_code), ...
 * The unmodified re-encoded image restarts, so the failures come from the changes.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class BadTreeImageTest {
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

    record Saved(Path image, long parent, List<Long> kids) {
        List<Long> all() {
            List<Long> l = new ArrayList<>(List.of(parent));
            l.addAll(kids);
            return l;
        }
    }

    private Saved checkpointedZombies() {
        Path exe = Fixtures.compile(tmp, "zombies", Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc p = cleanup.start("zombies", new ProcessBuilder(exe.toString()));
        String l = p.await("READY", s -> s.startsWith("READY ") || s.startsWith("FAIL"));
        assertTrue(l.startsWith("READY "), () -> "the fixture failed: " + l);
        String[] f = l.split(" ");
        List<Long> kids = new ArrayList<>();
        for (int i = 2; i < 6; i++) kids.add(Long.parseLong(f[i]));
        subreaper.foreign(cleanup, kids, t0, "zombie");
        Path image = tmp.resolve("good.img");
        Cryo.checkpoint(cleanup, p.pid(), image);
        p.awaitExit(Timeouts.EXIT);
        Saved s = new Saved(image, p.pid(), kids);
        TreeFixtures.awaitAllGone(s.all(), Duration.ofSeconds(30));
        return s;
    }

    /** Replaces the TREE's process list. */
    private static UnaryOperator<List<ImageRecord>> tree(UnaryOperator<List<Tree.Process>> change) {
        return rs -> {
            List<ImageRecord> out = new ArrayList<>();
            for (ImageRecord r : rs) {
                if (r instanceof Tree t) out.add(TreeFixtures.with(t, "processes", change.apply(new ArrayList<>(t.processes()))));
                else out.add(r);
            }
            return out;
        };
    }

    /** Changes one process of the TREE (by its pid in the good image). */
    private static UnaryOperator<List<ImageRecord>> process(long pid, Map<String, Object> changes) {
        return tree(ps -> {
            boolean found = false;
            for (int i = 0; i < ps.size(); i++)
                if (ps.get(i).pid() == pid) {
                    ps.set(i, TreeFixtures.with(ps.get(i), changes));
                    found = true;
                }
            assertTrue(found, "pid " + pid + " is not in the TREE");
            return ps;
        });
    }

    /** Changes the tid of the THREAD records of pid whose tid is `from`, or adds a copy with tid `to` after it. */
    private static UnaryOperator<List<ImageRecord>> thread(long pid, long from, long to, boolean addCopy) {
        return rs -> {
            List<ImageRecord> out = new ArrayList<>();
            boolean found = false;
            for (ImageRecord r : rs) {
                if (r instanceof ThreadRecord t && t.pid() == pid && t.tid() == from) {
                    found = true;
                    if (addCopy) out.add(r);
                    out.add(TreeFixtures.with(t, "tid", (int) to));
                } else out.add(r);
            }
            assertTrue(found, "no THREAD record for " + pid + "/" + from);
            return out;
        };
    }

    private static UnaryOperator<List<ImageRecord>> both(UnaryOperator<List<ImageRecord>> a, UnaryOperator<List<ImageRecord>> b) {
        return rs -> b.apply(a.apply(rs));
    }

    /** A pid that is in use by nobody and not in the tree. */
    private static int freePid(Saved s) {
        long p = Procfs.freePid();
        while (s.all().contains(p) || Procfs.exists(p)) p--;
        return (int) p;
    }

    @Test
    void inconsistentTreesAreRejectedBeforeAnythingIsCreated() {
        Saved s = checkpointedZombies();
        subreaper.off(); // from here on, an orphan left by a failed restart must show up as a leftover
        int parent = (int) s.parent();
        int z0 = s.kids().get(0).intValue(), z1 = s.kids().get(1).intValue(), z2 = s.kids().get(2).intValue(),
                z3 = s.kids().get(3).intValue();
        int nobody = freePid(s);

        record Variant(UnaryOperator<List<ImageRecord>> change, List<String> hints) {}
        Map<String, Variant> variants = new LinkedHashMap<>();
        variants.put("a ppid that is not in the tree",
                new Variant(process(z0, Map.of("ppid", nobody)), List.of(z0 + "", nobody + "")));
        variants.put("a process that is its own parent",
                new Variant(process(z0, Map.of("ppid", z0)), List.of(z0 + "")));
        variants.put("a duplicate pid", new Variant(process(z1, Map.of("pid", z0)), List.of(z0 + "")));
        variants.put("a thread without its leader (the leader's tid missing from its thread list)",
                new Variant(both(process(parent, Map.of("tids", new int[] {nobody})), thread(parent, parent, nobody, false)),
                        List.of(parent + "", nobody + "")));
        variants.put("a live process without threads",
                new Variant(both(process(parent, Map.of("tids", new int[0])),
                        rs -> rs.stream().filter(r -> !(r instanceof ThreadRecord)).toList()), List.of(parent + "", "threads")));
        variants.put("a thread whose tid is another process's pid",
                new Variant(both(process(parent, Map.of("tids", new int[] {parent, z0})), thread(parent, parent, z0, true)),
                        List.of(z0 + "")));
        variants.put("a zombie with exit code 300",
                new Variant(process(z1, Map.of("waitStatus", 300 << 8)), List.of(z1 + "", "300", "0x12c00", "76800")));
        variants.put("a zombie killed by signal 99",
                new Variant(process(z2, Map.of("waitStatus", 99)), List.of(z2 + "", "99")));
        variants.put("a zombie with both an exit code and a signal",
                new Variant(process(z3, Map.of("waitStatus", (1 << 8) | 9)), List.of(z3 + "", "265", "0x109")));
        variants.put("a zombie whose status is a stop, not an exit",
                new Variant(process(z3, Map.of("waitStatus", (19 << 8) | 0x7f)), List.of(z3 + "", "4991", "0x137f")));
        // (a group or session whose leader is gone is recreated with a temporary leader: GroupLeadersTest)
        variants.put("a process group with members in two sessions",
                new Variant(both(process(z0, Map.of("pgid", nobody)), process(z1, Map.of("pgid", nobody, "sid", nobody))),
                        List.of(z0 + "", z1 + "", nobody + "")));
        variants.put("a process in the root's group but another session",
                new Variant(process(z0, Map.of("sid", nobody)), List.of(z0 + "", nobody + "")));

        List<Executable> checks = new ArrayList<>();
        int i = 0;
        for (var v : variants.entrySet()) {
            Path bad = tmp.resolve("bad-" + (i++) + ".img");
            TreeFixtures.rewrite(s.image(), bad, v.getValue().change());
            checks.add(() -> {
                // a variant before this one may have left a process of the tree dying (PID 1 reaps slowly)
                try {
                    TreeFixtures.awaitAllGone(s.all(), Duration.ofSeconds(60));
                } catch (AssertionError e) {
                    throw new AssertionError("before trying an image with " + v.getKey() + ", an earlier variant left: "
                            + e.getMessage(), e);
                }
                Leftovers before = Leftovers.snapshot();
                String line;
                try {
                    line = Cryo.restartExpectingFailure(cleanup, bad, s.parent()).assertOneLineError();
                } catch (AssertionError e) {
                    throw new AssertionError("restart of an image with " + v.getKey() + ": " + e.getMessage(), e);
                }
                System.out.println("[BadTreeImageTest] " + v.getKey() + ": " + line);
                for (long p : s.all())
                    assertFalse(Procfs.exists(p), "restart of an image with " + v.getKey() + " left pid " + p);
                assertFalse(Procfs.exists(nobody), "restart of an image with " + v.getKey() + " created pid " + nobody);
                before.assertNone(cleanup, "restart of an image with " + v.getKey());
                assertTrue(v.getValue().hints().stream().anyMatch(line::contains),
                        "the error for " + v.getKey() + " names what is wrong (one of " + v.getValue().hints() + "): " + line);
            });
        }
        assertAll("inconsistent trees", checks.stream());

        // control: the same image re-encoded without change restarts, zombies and all
        Path same = tmp.resolve("same.img");
        TreeFixtures.rewrite(s.image(), same, UnaryOperator.identity());
        Instant t0 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, same, s.parent());
        subreaper.foreign(cleanup, s.all(), t0, "restored zombie");
        rest.send("reap");
        for (long k : s.kids()) {
            String l = rest.await("REAPED " + k, x -> x.startsWith("REAPED ") || x.startsWith("FAIL "));
            assertTrue(l.startsWith("REAPED " + k + " "), "control: " + l);
        }
        rest.send("quit");
        assertEquals(0, rest.awaitExit(Timeouts.EXIT), "control: the re-encoded good image restarts");
    }
}
