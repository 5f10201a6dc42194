package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every shape of pipe the issue names, in one tree of the pipe fixture (src/test/c/pipes.c), checkpointed,
 * gone, restarted in the foreground, and verified by the fixture itself: a full 64 KiB pipe with a writer
 * blocked on it, a 1 MiB pipe (F_SETPIPE_SZ) partly full, an empty pipe with a reader blocked on it, a pipe
 * whose reader is gone (EPIPE, SIGPIPE), a pipe whose writer is gone with EOF pending, both ends in one task
 * with the read end dup'ed to two fds and shared with a child, O_NONBLOCK on one end only, and a FIFO between
 * two processes. Each scenario also runs alone, so a failure points at one shape.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class PipeScenariosTest {
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

    private void roundTrip(List<String> scenarios) {
        PipeFixtureTest.Started s = PipeFixtureTest.start(cleanup, subreaper, tmp, scenarios);
        Path image = tmp.resolve("pipes.img");
        List<Long> pids = PipeFixtureTest.checkpointAndAwaitGone(cleanup, s, image);
        Proc r = PipeFixtureTest.restart(cleanup, subreaper, image, pids);
        PipeFixtureTest.verifyOk(r, "after restart", s.names());
        PipeFixtureTest.quit(r);
        assertEquals(0, r.awaitExit(Timeouts.EXIT), "cryo restart exits with the restored fixture's status");
    }

    @Test
    void everyPipeShapeInOneTreeComesBackWithItsData() {
        roundTrip(PipeFixtureTest.allScenarios(tmp));
    }

    private String scenario(String name) {
        if (!name.equals("fifo")) return name;
        Path fifo = tmp.resolve("fifo");
        cryo.testing.Os.mkfifo(fifo);
        return "fifo:" + fifo;
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"full", "big", "empty", "noreader", "eof", "dup", "nonblock", "fifo"})
    void oneShapeAlone(String scenario) {
        roundTrip(List.of(scenario(scenario)));
    }

    /**
     * The restored tree may act the instant it runs: here "verify" already waits on cryo restart's stdin when
     * the restart begins, so the root checks its pipes (and, for the FIFO, kills its child) at once. It must
     * find the final state already: the pipe end nobody held closed (EPIPE), no write end of cryo's left on the
     * FIFO (EOF), and the restart must not fail because a task it released first acted on another.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"noreader", "eof", "fifo", "full"})
    void aTreeThatActsTheMomentItIsReleasedFindsTheFinalState(String name) {
        List<String> scenarios = List.of(scenario(name));
        PipeFixtureTest.Started s = PipeFixtureTest.start(cleanup, subreaper, tmp, scenarios);
        Path image = tmp.resolve("pipes.img");
        List<Long> pids = PipeFixtureTest.checkpointAndAwaitGone(cleanup, s, image);
        Proc r = PipeFixtureTest.startRestart(cleanup, subreaper, image, pids);
        r.send("verify"); // queued before cryo has even read the image
        PipeFixtureTest.awaitVerifyOk(r, "verify queued before the restart", s.names());
        PipeFixtureTest.quit(r);
        assertEquals(0, r.awaitExit(Timeouts.EXIT), "cryo restart exits with the restored fixture's status");
    }
}
