package cryo.files;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Files;
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
 * Epoll instances and eventfds (src/test/c/epoll.c checks them itself): eventfd counters (above 32 bits too),
 * EFD_SEMAPHORE and O_NONBLOCK; an epoll with several targets and data values, whose ready pipes (EPOLLET's
 * too) are reported again after restart, a fired EPOLLONESHOT item still disabled, an item whose fd was
 * moved to another number (still keyed by its old one), EPOLLEXCLUSIVE; a nested epoll; an epoll shared
 * with a child, which added a pipe only it holds. A target no fd of the tree holds is refused; a bad image is
 * one line of error; a Python select.epoll loop passing a token through a pipe and an eventfd counts on
 * without a gap.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class EpollTest {
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

    /** The fixture and its child, READY. */
    private PipeFixtureTest.Started start(String... args) {
        Path exe = Files.isExecutable(tmp.resolve("epoll")) ? tmp.resolve("epoll") : Fixtures.compile(tmp, "epoll", Fixtures.Build.PIE);
        List<String> cmd = new ArrayList<>(List.of(exe.toString()));
        cmd.addAll(List.of(args));
        Instant t0 = Instant.now();
        Proc p = cleanup.start("epoll", new ProcessBuilder(cmd));
        p.awaitReady();
        List<Long> children = new ArrayList<>(TreeFixtures.children(p.pid()));
        subreaper.foreign(cleanup, children, t0, "epoll child");
        return new PipeFixtureTest.Started(p, List.of("epoll"), List.of(0), children, t0);
    }

    private static void checkAndQuit(Proc p) {
        p.checkOk();
        p.send("quit");
        assertEquals(0, p.awaitExit(Timeouts.EXIT), "the fixture exits 0 after quit");
    }

    @Test
    void fixtureChecksItselfWithoutCryo() {
        checkAndQuit(start().proc());
    }

    @Test
    void everyItemCounterAndReadyEventComesBackAfterRestart() {
        PipeFixtureTest.Started s = start();
        Path image = tmp.resolve("epoll.img");
        List<Long> pids = PipeFixtureTest.checkpointAndAwaitGone(cleanup, s, image);
        Proc r = PipeFixtureTest.restart(cleanup, subreaper, image, pids);
        checkAndQuit(r);
    }

    /** Checkpoint changes nothing (no event taken, no edge lost, the fired EPOLLONESHOT still disabled). */
    @Test
    void leaveRunningLeavesEveryEpollAsItWas() {
        PipeFixtureTest.Started s = start();
        Path image = tmp.resolve("epoll.img");
        Cryo.checkpoint(cleanup, s.pid(), image, "--leave-running");
        Procfs.assertRunningUntraced(s.pid(), "the fixture");
        checkAndQuit(s.proc());
        List<Long> pids = s.pids();
        TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(60));
        Proc r = PipeFixtureTest.restart(cleanup, subreaper, image, pids);
        checkAndQuit(r);
    }

    /** The tree is the child: its epoll watches a pipe it closed, which only its parent (outside) holds. */
    @Test
    void aTargetNoFdOfTheTreeHoldsIsRefusedInOneLine() {
        PipeFixtureTest.Started s = start("closed");
        long child = s.children().getFirst();
        Cryo.Result res = Cryo.run(cleanup, "checkpoint", Long.toString(child), "-o", tmp.resolve("c.img").toString());
        String line = res.assertOneLineError();
        assertTrue(line.contains("task " + child + ": fd ") && line.contains("is an epoll instance watching fd ")
                && line.contains("which no fd of the tree holds any more"), res::describe);
        assertEquals(List.of(), Cryo.list(tmp).stream().filter(n -> n.startsWith("c.img")).toList(), "no image");
        Procfs.assertRunningUntraced(child, "the child");
        s.proc().send("quit");
        assertEquals(0, s.proc().awaitExit(Timeouts.EXIT));
    }

    /** A fired EPOLLONESHOT item on a pipe read empty since: restart could not disable it again. */
    @Test
    void aDisabledOneshotItemWhoseFileIsReadyForNothingIsRefusedInOneLine() {
        PipeFixtureTest.Started s = start("drained");
        Cryo.Result res = Cryo.run(cleanup, "checkpoint", Long.toString(s.pid()), "-o", tmp.resolve("d.img").toString());
        String line = res.assertOneLineError();
        assertTrue(line.contains("task " + s.pid() + ": fd ") && line.contains("EPOLLONESHOT, fired and disabled"), res::describe);
        Procfs.assertRunningUntraced(s.pid(), "the fixture");
        s.proc().send("quit");
        assertEquals(0, s.proc().awaitExit(Timeouts.EXIT));
    }

    @Test
    void badEpollAndEventfdRecordsAreOneLineErrorsAndLeaveNothing() {
        PipeFixtureTest.Started s = start();
        Path good = tmp.resolve("good.img");
        List<Long> pids = PipeFixtureTest.checkpointAndAwaitGone(cleanup, s, good);
        List<ImageRecord> records = TreeFixtures.withRecords(good, ArrayList::new);
        int unknown = 100000;
        EventfdRecord counter = records.stream().filter(r -> r instanceof EventfdRecord).map(r -> (EventfdRecord) r).findFirst().orElseThrow();
        // (items come in the kernel's order, by the address of their file: the first may watch that eventfd)
        EpollTargetRecord first = records.stream().filter(r -> r instanceof EpollTargetRecord t && t.target() != counter.openFile())
                .map(r -> (EpollTargetRecord) r).findFirst().orElseThrow();

        record Variant(UnaryOperator<List<ImageRecord>> change, String hint) {}
        Map<String, Variant> variants = new LinkedHashMap<>();
        variants.put("an epoll watching an objref that does not exist", new Variant(
                PipeBadImageTest.replace(rs -> rs.get(rs.indexOf(first)), r -> TreeFixtures.with((EpollTargetRecord) r, "target", unknown)), "" + unknown));
        variants.put("an EPOLL_TARGET whose epoll is an eventfd", new Variant(
                PipeBadImageTest.replace(rs -> rs.get(rs.indexOf(first)), r -> TreeFixtures.with((EpollTargetRecord) r, "epoll", counter.openFile())), "EVENTFD"));
        variants.put("an eventfd without its EVENTFD record", new Variant(
                rs -> rs.stream().filter(r -> !r.equals(counter)).toList(), "EVENTFD"));
        variants.put("an epoll watching itself through another", new Variant(rs -> {
            List<ImageRecord> out = new ArrayList<>(rs);
            EpollTargetRecord nested = rs.stream().filter(r -> r instanceof EpollTargetRecord t && t.data() == 0xe1)
                    .map(r -> (EpollTargetRecord) r).findFirst().orElseThrow();
            out.add(rs.indexOf(nested) + 1, new EpollTargetRecord(nested.target(), nested.epoll(), 99, 0x19, 0));
            return out;
        }, "itself"));

        subreaper.off(); // from here on, an orphan left by a failed restart must show up as a leftover
        List<Executable> checks = new ArrayList<>();
        int i = 0;
        for (var v : variants.entrySet()) {
            Path bad = tmp.resolve("bad-" + (i++) + ".img");
            TreeFixtures.rewrite(good, bad, v.getValue().change());
            checks.add(() -> {
                TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(60));
                Leftovers before = Leftovers.snapshot();
                String line = Cryo.restartExpectingFailure(cleanup, bad, pids.getFirst()).assertOneLineError();
                System.out.println("[EpollTest] " + v.getKey() + ": " + line);
                for (long p : pids) assertFalse(Procfs.exists(p), "restart of an image with " + v.getKey() + " left pid " + p);
                before.assertNone(cleanup, "restart of an image with " + v.getKey());
                assertTrue(line.contains(v.getValue().hint()), "the error for " + v.getKey() + " mentions '" + v.getValue().hint() + "': " + line);
            });
        }
        assertAll(checks);

        subreaper.on();
        Path same = tmp.resolve("same.img");
        TreeFixtures.rewrite(good, same, rs -> rs);
        TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(60));
        checkAndQuit(PipeFixtureTest.restart(cleanup, subreaper, same, pids));
    }

    /**
     * A real event loop: Python's select.epoll passes a token from a pipe to an eventfd and back, printing a
     * TICK each round. Wherever the checkpoint catches the token (in the pipe, in the counter, in the
     * program), the restored loop goes on from the next number.
     */
    private static final String LOOP = """
            import os, select, sys, time
            r, w = os.pipe()
            efd = os.eventfd(0, os.EFD_NONBLOCK)
            ep = select.epoll()
            ep.register(r, select.EPOLLIN)
            ep.register(efd, select.EPOLLIN | select.EPOLLET)
            n = 0
            os.write(1, b"READY %d\\n" % os.getpid())
            os.write(w, b"x")
            while True:
                for fd, ev in ep.poll(5.0):
                    if fd == r:
                        os.read(r, 1)
                        os.eventfd_write(efd, 1)
                    elif fd == efd:
                        os.eventfd_read(efd)
                        n += 1
                        os.write(1, b"TICK %d\\n" % n)
                        time.sleep(0.002)
                        os.write(w, b"x")
            """;

    @Test
    void aPythonEpollLoopCountsOnWithoutAGap() {
        Path py = Fixtures.python();
        Proc p = cleanup.start("loop", new ProcessBuilder(py.toString(), "-c", LOOP));
        p.awaitReady();
        for (int i = 0; i < 20; i++) p.nextTick();
        Path image = tmp.resolve("loop.img");
        Cryo.checkpoint(cleanup, p.pid(), image);
        long last = p.lastTickAfterEof();
        Proc r = Cryo.startRestart(cleanup, image, p.pid());
        assertEquals(last + 1, r.nextTick(), "the first tick after restart follows the last one before");
        for (int i = 0; i < 20; i++) r.nextTick();
        r.process().destroyForcibly();
    }

    /** Node.js (libuv: epolls, eventfds and pipes, and worker threads): a setInterval counter counts on. */
    @Test
    void aNodeSetIntervalCounterCountsOnWithoutAGap() {
        Fixtures.assumeTool("node");
        Proc p = cleanup.start("node", new ProcessBuilder(Fixtures.onPath("node").orElseThrow().toString(), "-e", """
                let n = 0;
                process.stdout.write("READY " + process.pid + "\\n");
                setInterval(() => { n++; process.stdout.write("TICK " + n + "\\n"); }, 2);
                """));
        p.awaitReady();
        for (int i = 0; i < 20; i++) p.nextTick();
        Path image = tmp.resolve("node.img");
        Cryo.checkpoint(cleanup, p.pid(), image);
        long last = p.lastTickAfterEof();
        Proc r = Cryo.startRestart(cleanup, image, p.pid());
        assertEquals(last + 1, r.nextTick(), "the first tick after restart follows the last one before");
        for (int i = 0; i < 20; i++) r.nextTick();
        r.process().destroyForcibly();
    }
}
