package cryo.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A SysV segment attached twice, each attach partly unmapped, a page of something else in a gap
 * (src/test/c/sysv_part.c): after restart every piece is at its place, at its offset into the segment,
 * with its protection and VmFlags and its contents; the two attaches still share the segment, the
 * kernel counts the same attaches, and shmdt of the first attach removes all its pieces and nothing else.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class SysvPartTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    private static String pieces(long pid) {
        return Smaps.of(pid).stream().filter(m -> m.path().startsWith("/SYSV")).map(Smaps::toString).collect(Collectors.joining("\n"));
    }

    private static String check(Proc p) {
        p.send("check");
        String nattch = p.await("NATTCH", l -> l.startsWith("NATTCH "));
        assertEquals("OK", p.await("OK", l -> l.equals("OK") || l.equals("FAILED")), "the pieces:\n" + p.tails());
        return nattch;
    }

    @Test
    void aSegmentAttachedInPartComesBackPieceByPiece() {
        Path exe = Fixtures.compile(tmp, "sysv_part", Fixtures.Build.PIE);
        Proc orig = cleanup.start("sysv_part", new ProcessBuilder(exe.toString()));
        String[] ready = orig.await("READY", l -> l.startsWith("READY ") || l.startsWith("ERROR")).split(" ");
        assertEquals("READY", ready[0], String.join(" ", ready));
        long pid = orig.pid();
        orig.await("ATTACH", l -> l.startsWith("ATTACH "));
        String before = pieces(pid);
        assertEquals(4, before.lines().count(), "three pieces of A, one of B:\n" + before);
        String nattch = check(orig);

        Path image = tmp.resolve("sysv.img");
        Cryo.checkpoint(cleanup, pid, image);
        orig.awaitExit(Timeouts.EXIT);
        Procfs.awaitGone(pid, Timeouts.EXIT);

        Proc rest = Cryo.startRestart(cleanup, image, pid);
        assertEquals(nattch, check(rest), "the kernel counts as many attaches as before");
        assertEquals(before, pieces(pid), "every piece at its place, offset, protection and VmFlags");
        check(rest);
        rest.send("detach");
        assertEquals("DETACH OK", rest.await("DETACH", l -> l.startsWith("DETACH ")), "shmdt of A after restart:\n" + rest.tails());
        rest.send("quit");
        rest.await("BYE", "BYE"::equals);
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }
}
