package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checkpoint never consumes pipe data: with --leave-running, the original reader of a full 64 KiB pipe (whose
 * writer is blocked with 10000 more bytes), of a 1 MiB pipe, of a pipe with EOF pending and of a FIFO reads
 * every byte exactly once, in order; and the image, restarted afterwards, holds the same bytes again.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class PipeLeaveRunningTest {
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

    private void leaveRunningThenRestart(List<String> scenarios) {
        PipeFixtureTest.Started s = PipeFixtureTest.start(cleanup, subreaper, tmp, scenarios);
        Path image = tmp.resolve("running.img");
        Cryo.checkpoint(cleanup, s.pid(), image, "--leave-running");
        for (long p : s.pids()) Procfs.assertRunningUntraced(p, "pid " + p + " after --leave-running");
        List<Long> pids = PipeFixtureTest.imagePids(cleanup, image);
        assertEquals(s.pids().stream().sorted().toList(), pids.stream().sorted().toList(), "the image holds the whole tree");

        // the original reads everything exactly once
        PipeFixtureTest.verifyOk(s.proc(), "the original, after checkpoint --leave-running", s.names());
        PipeFixtureTest.quit(s.proc());
        PipeFixtureTest.awaitGone(pids);

        // and the image still has it all
        Proc r = PipeFixtureTest.restart(cleanup, subreaper, image, pids);
        PipeFixtureTest.verifyOk(r, "restarted from the --leave-running image", s.names());
        PipeFixtureTest.quit(r);
        assertEquals(0, r.awaitExit(Timeouts.EXIT));
    }

    @Test
    void theReaderOfAFullPipeGetsEveryByteOnce() {
        leaveRunningThenRestart(List.of("full"));
    }

    @Test
    void bigEofAndFifoBuffersAreNotConsumedEither() {
        Path fifo = tmp.resolve("fifo");
        Os.mkfifo(fifo);
        leaveRunningThenRestart(List.of("big", "eof", "fifo:" + fifo, "dup"));
    }
}
