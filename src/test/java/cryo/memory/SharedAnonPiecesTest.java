package cryo.memory;

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
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * One 1 GiB shared anonymous object in pieces, shared by a parent and its child (src/test/c/shmem_pieces.c):
 * a page unmapped in the middle, the second half mremap'ed elsewhere, one page mapped again through
 * /proc/self/map_files at an offset. The image holds the object once with only its written pages; after
 * restart every mapping is a mapping of one object at its own pgoff, the fixture finds every page and the
 * writes of each process visible to the other.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class SharedAnonPiecesTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    /** Pages the fixture wrote: 10 by the parent, 2 by the child. */
    static final int WRITTEN = 12;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    /** The "/dev/zero (deleted)" mappings of a task: range, pgoff, inode. */
    static List<Smaps> shmem(long pid) {
        return Smaps.of(pid).stream().filter(m -> m.path().equals("/dev/zero (deleted)")).toList();
    }

    static String layout(List<Smaps> maps) {
        return maps.stream().map(m -> m.range() + " " + m.perms() + " pgoff " + m.pgoff()).collect(Collectors.joining(", "));
    }

    @Test
    void oneObjectInPiecesComesBackAsOneObjectWithItsWrittenPagesOnly() throws Exception {
        Path exe = Fixtures.compile(tmp, "shmem_pieces", Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc orig = cleanup.start("shmem_pieces", new ProcessBuilder(exe.toString()));
        String[] ready = orig.await("READY", l -> l.startsWith("READY ") || l.startsWith("ERROR")).split(" ");
        assertEquals("READY", ready[0], String.join(" ", ready));
        long parent = Long.parseLong(ready[1]), child = Long.parseLong(ready[2]);
        subreaper.foreign(cleanup, List.of(child), t0, "shmem_pieces child");
        orig.await("MAPS", l -> l.startsWith("MAPS "));
        List<Smaps> parentBefore = shmem(parent), childBefore = shmem(child);
        assertEquals(3, parentBefore.size(), "first half, second half, alias: " + layout(parentBefore));
        assertEquals(layout(parentBefore), layout(childBefore), "the child inherited the same mappings");

        Path image = tmp.resolve("pieces.img");
        Cryo.checkpoint(cleanup, parent, image);
        orig.awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(List.of(parent, child), Duration.ofSeconds(30));

        long size = Files.size(image);
        assertTrue(size < 32L << 20, "the 1 GiB object with " + WRITTEN + " written pages costs " + size + " bytes of image");
        long[] objects = {0}, pages = {0}, objectSize = {0};
        TreeFixtures.withRecords(image, rs -> {
            for (ImageRecord r : rs) {
                if (r instanceof ShmemRecord s) {
                    objects[0]++;
                    objectSize[0] = s.size();
                }
                if (r instanceof ShmemPagesRecord p) pages[0] += p.data().byteSize() / 4096;
            }
            return null;
        });
        assertEquals(1, objects[0], "one SHMEM record for the one object mapped six times");
        assertEquals(1L << 30, objectSize[0], "the object's own size, beyond what is still mapped of it");
        assertEquals(WRITTEN, pages[0], "only the written pages of the object are saved, once");

        Instant t1 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, parent);
        subreaper.foreign(cleanup, List.of(parent, child), t1, "restored shmem_pieces");
        for (int n : new int[] {5, 11, 1000}) {
            rest.send("check " + n);
            String answer = rest.await("OK", l -> l.equals("OK") || l.equals("FAILED") || l.startsWith("ERROR"));
            assertEquals("OK", answer, "the restored pair checked its pages:\n" + rest.tails());
        }
        for (long pid : List.of(parent, child)) {
            List<Smaps> after = shmem(pid);
            assertEquals(layout(parentBefore), layout(after), "the pieces of the object in task " + pid + " at their places and offsets");
            Set<Long> inodes = new TreeSet<>();
            after.forEach(m -> inodes.add(m.inode()));
            shmem(parent).forEach(m -> inodes.add(m.inode()));
            assertEquals(1, inodes.size(), "every mapping in both tasks maps one object: " + inodes);
        }
        rest.send("quit");
        rest.await("BYE", "BYE"::equals);
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }

    @Test
    void anObjectSharedWithAProcessOutsideTheTreeIsALeak() {
        Path exe = Fixtures.compile(tmp, "shmem_pieces", Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc orig = cleanup.start("shmem_pieces", new ProcessBuilder(exe.toString()));
        String[] ready = orig.await("READY", l -> l.startsWith("READY ") || l.startsWith("ERROR")).split(" ");
        long parent = Long.parseLong(ready[1]), child = Long.parseLong(ready[2]);
        subreaper.foreign(cleanup, List.of(child), t0, "shmem_pieces child");
        Path image = tmp.resolve("leak.img");
        // the child alone: its parent, outside the tree, maps the same object
        Cryo.Result r = Cryo.run(cleanup, "checkpoint", Long.toString(child), "-o", image.toString());
        assertTrue(r.exit() != 0, r.describe());
        String line = r.stderrLines().stream().filter(l -> l.contains("shared anonymous memory")).findFirst().orElse("");
        System.out.println("[SharedAnonPiecesTest] refused: " + line);
        assertTrue(line.contains("task " + child) && line.contains("task " + parent), "the refusal names both tasks: " + r.describe());
        assertTrue(!Files.exists(image), "no image after a refused checkpoint");
        // the pipes to the parent are refused too: accepted as external, the object with --allow-leaks
        List<String> extra = new java.util.ArrayList<>(List.of("--allow-leaks", "--leave-running"));
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("--external (pipe:\\[\\d+\\])").matcher(r.stderr());
        while (m.find()) extra.addAll(List.of("--external", m.group(1)));
        Cryo.checkpoint(cleanup, child, image, extra.toArray(String[]::new));
        orig.send("check 3");
        assertEquals("OK", orig.await("OK", l -> l.equals("OK") || l.equals("FAILED")), "the pair after --allow-leaks --leave-running:\n" + orig.tails());
        orig.send("quit");
        orig.await("BYE", "BYE"::equals);
        assertEquals(0, orig.awaitExit(Timeouts.EXIT));
    }
}
