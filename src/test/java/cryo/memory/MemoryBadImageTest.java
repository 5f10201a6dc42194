package cryo.memory;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad SHMEM, SHMEM_PAGES, INHERITED and VMA vm_flags fields are refused by restart with one line naming the
 * record and field, before any task exists.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class MemoryBadImageTest {
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

    /** Runs fixture `name` (a parent and a child), checkpoints it, returns {image, parent, child}. */
    private Object[] image(String name) {
        Path exe = Fixtures.compile(tmp, name, Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc p = cleanup.start(name, new ProcessBuilder(exe.toString()));
        String[] ready = p.await("READY", l -> l.startsWith("READY ") || l.startsWith("ERROR")).split(" ");
        long parent = Long.parseLong(ready[1]), child = Long.parseLong(ready[2]);
        subreaper.foreign(cleanup, List.of(child), t0, name + " child");
        Path image = tmp.resolve(name + ".img");
        Cryo.checkpoint(cleanup, parent, image);
        p.awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(List.of(parent, child), Duration.ofSeconds(30));
        return new Object[] {image, parent, child};
    }

    private void refused(Object[] good, String what, UnaryOperator<List<ImageRecord>> change, String... hints) {
        Path bad = tmp.resolve("bad.img");
        TreeFixtures.rewrite((Path) good[0], bad, change);
        long parent = (long) good[1], child = (long) good[2];
        String line = Cryo.restartExpectingFailure(cleanup, bad, parent).assertOneLineError();
        System.out.println("[MemoryBadImageTest] " + what + ": " + line);
        for (String h : hints) assertTrue(line.contains(h), what + ": the error names " + h + ": " + line);
        assertFalse(Procfs.alive(parent) || Procfs.alive(child), what + ": no task is left");
    }

    private static UnaryOperator<List<ImageRecord>> each(java.util.function.Function<ImageRecord, ImageRecord> f) {
        return rs -> {
            List<ImageRecord> out = new ArrayList<>();
            for (ImageRecord r : rs) out.add(f.apply(r));
            return out;
        };
    }

    @Test
    void badSharedAnonymousRecordsAreRefused() {
        Object[] good = image("shmem_pieces");
        refused(good, "SHMEM_PAGES past the object's end", each(r -> r instanceof ShmemPagesRecord p && p.offset() == 0
                ? TreeFixtures.with(p, "offset", (1L << 30) - 4096 + 4096) : r), "SHMEM_PAGES", "past the end");
        refused(good, "a SHMEM size not whole pages", each(r -> r instanceof ShmemRecord s ? TreeFixtures.with(s, "size", s.size() + 1) : r),
                "SHMEM", "size");
        refused(good, "a VMA naming no SHMEM object", each(r -> r instanceof VmaRecord v && v.kind() == VmaRecord.Kind.SHMEM
                ? TreeFixtures.with(v, "shmem", v.shmem() + 1000) : r), "VMA", "shmem");
        refused(good, "a VMA mapping past its object", each(r -> r instanceof VmaRecord v && v.kind() == VmaRecord.Kind.SHMEM
                ? TreeFixtures.with(v, "pgoff", (1L << 30) / 4096) : r), "VMA", "pgoff");
        refused(good, "unknown VmFlags bits", each(r -> r instanceof VmaRecord v ? TreeFixtures.with(v, "vmFlags", 1 << 20) : r),
                "VMA", "vm_flags");
    }

    @Test
    void badInheritedRunsAreRefused() {
        Object[] good = image("cow");
        long parent = (long) good[1];
        refused(good, "INHERITED pages of the root", each(r -> r instanceof InheritedRecord in ? TreeFixtures.with(in, "pid", (int) parent) : r),
                "INHERITED", "no live parent");
        refused(good, "INHERITED pages outside any inherited VMA", each(r -> r instanceof InheritedRecord in ? TreeFixtures.with(in, "addr", 4096L) : r),
                "INHERITED", "inherits");
        refused(good, "INHERITED with a length not whole pages", each(r -> r instanceof InheritedRecord in ? TreeFixtures.with(in, "len", 100L) : r),
                "INHERITED", "len");
    }
}
