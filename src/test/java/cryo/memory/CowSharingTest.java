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
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A parent and its forked child that still share most of their private memory copy-on-write
 * (src/test/c/cow.c): the image holds the shared pages once, and after restart the pair shares them again:
 * the Rss and Pss of each process in those mappings are what they were, and both find every page as it was
 * (the child's own writes, the pages it dropped, the parent's writes after the fork).
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class CowSharingTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final long PAGES = 8192, RO_PAGES = 256;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    /** "Rss=... Pss=..." in kB of the task's mappings inside the ranges {from, to, from, to...}. */
    static String usage(long pid, long... ranges) {
        long rss = 0, pss = 0;
        for (Smaps m : Smaps.of(pid)) {
            for (int i = 0; i < ranges.length; i += 2) {
                if (m.start() >= ranges[i] && m.end() <= ranges[i + 1]) {
                    rss += m.rss();
                    pss += m.pss();
                }
            }
        }
        return "Rss=" + rss + " Pss=" + pss;
    }

    @Test
    void pagesSharedCopyOnWriteStaySharedAfterRestart() {
        Path exe = Fixtures.compile(tmp, "cow", Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc orig = cleanup.start("cow", new ProcessBuilder(exe.toString()));
        String[] ready = orig.await("READY", l -> l.startsWith("READY ") || l.startsWith("ERROR")).split(" ");
        assertEquals("READY", ready[0], String.join(" ", ready));
        long parent = Long.parseLong(ready[1]), child = Long.parseLong(ready[2]);
        subreaper.foreign(cleanup, List.of(child), t0, "cow child");
        String[] r = orig.await("REGION", l -> l.startsWith("REGION ")).split(" ");
        long[] ranges = new long[4];
        for (int i = 0; i < 4; i++) ranges[i] = Long.parseUnsignedLong(r[i + 1], 16);
        String parentBefore = usage(parent, ranges), childBefore = usage(child, ranges);
        assertEquals("Rss=" + (PAGES + RO_PAGES) * 4, parentBefore.split(" ")[0], "the parent's pages are all in");
        long shared = PAGES - 64 - 32 - 64 + RO_PAGES;

        Path image = tmp.resolve("cow.img");
        Cryo.checkpoint(cleanup, parent, image);
        orig.awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(List.of(parent, child), Duration.ofSeconds(30));
        long[] inherited = {0};
        TreeFixtures.withRecords(image, rs -> {
            for (ImageRecord rec : rs) if (rec instanceof InheritedRecord in && in.pid() == child) inherited[0] += in.len() / 4096;
            return null;
        });
        assertTrue(inherited[0] >= shared, "the child's pages shared with its parent are named, not saved again: " + inherited[0]);

        Instant t1 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, parent);
        subreaper.foreign(cleanup, List.of(parent, child), t1, "restored cow");
        // the usage is read before any check: a check reads the dropped pages (the zero page, not counted)
        rest.send("noop");
        rest.send("check");
        assertEquals("OK", rest.await("OK", l -> l.equals("OK") || l.equals("FAILED") || l.startsWith("ERROR")), "the pair checked its pages:\n" + rest.tails());
        assertEquals(parentBefore, usage(parent, ranges), "the parent's Rss and Pss in REGION and RO");
        assertEquals(childBefore, usage(child, ranges), "the child's Rss and Pss in REGION and RO");
        rest.send("check");
        assertEquals("OK", rest.await("OK", l -> l.equals("OK") || l.equals("FAILED")));
        rest.send("quit");
        rest.await("BYE", "BYE"::equals);
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }
}
