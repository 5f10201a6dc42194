package cryo.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint of a tree that another cryo or another tracer holds is refused in one line naming the holder,
 * and the holder goes on unharmed. The first cryo is held at a known moment by the CRYO_HOLD_AT hook
 * (cryo.sys.HoldPoint): right after its freeze, or in the middle of a restart's release.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ConcurrentCheckpointTest {
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

    /** A cryo command started with CRYO_HOLD_AT=point@dir, once it is held there. */
    private Proc startHeld(String point, Path dir, String... args) throws IOException {
        Files.createDirectories(dir);
        List<String> cmd = Cryo.command(List.of(), args);
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of("CRYO_HOLD_AT", point + "@" + dir));
        Proc p = cleanup.start("held cryo " + args[0], pb);
        Path held = dir.resolve("held-" + point);
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (!Files.exists(held)) {
            assertTrue(p.isAlive(), () -> "cryo " + args[0] + " ended before it reached " + point + ":\n" + p.tails());
            assertTrue(System.nanoTime() < deadline, "cryo " + args[0] + " did not reach " + point);
            Procfs.sleep(Duration.ofMillis(10));
        }
        assertEquals(Long.toString(p.pid()), Files.readString(held).trim());
        return p;
    }

    private static void letGo(String point, Path dir) throws IOException {
        Files.createFile(dir.resolve("go-" + point));
    }

    /** cryo checkpoint PID, expected to be refused for `expected`; nothing written. */
    private void assertRefused(long pid, String expected) throws IOException {
        Path out = Files.createDirectories(tmp.resolve("second-" + pid));
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(pid), "-R", "-o", out.resolve("x.img").toString()).assertOneLineError();
        assertTrue(line.contains(expected), () -> "the refusal says '" + expected + "': " + line);
        assertEquals(List.of(), Cryo.list(out), "the refused checkpoint wrote nothing");
    }

    private void assertFirstCompletes(Proc first, Path image, ChurnFixture tree) {
        assertEquals(0, first.awaitExit(Timeouts.CRYO), () -> "the first checkpoint completes: " + first.tails());
        assertTrue(Files.isRegularFile(image), "the first checkpoint's image");
        for (long pid : List.of(tree.root().pid(), tree.s(), tree.s1(), tree.e())) Procfs.assertRunningUntraced(pid, "tree member " + pid);
        tree.root().checkOk();
    }

    @Test
    void aSecondCheckpointOfTheSameTreeIsRefused() throws IOException {
        ChurnFixture tree = ChurnFixture.start(cleanup, subreaper, tmp, "quiet");
        Path hold = tmp.resolve("hold"), image = tmp.resolve("first.img");
        Proc first = startHeld("frozen", hold, "checkpoint", Long.toString(tree.root().pid()), "-R", "-o", image.toString());
        assertRefused(tree.root().pid(), "task " + tree.root().pid() + ": is being checkpointed by cryo pid " + first.pid());
        letGo("frozen", hold);
        assertFirstCompletes(first, image, tree);
    }

    @Test
    void aSubtreeOfATreeBeingCheckpointedIsRefused() throws IOException {
        ChurnFixture tree = ChurnFixture.start(cleanup, subreaper, tmp, "quiet");
        Path hold = tmp.resolve("hold"), image = tmp.resolve("first.img");
        Proc first = startHeld("frozen", hold, "checkpoint", Long.toString(tree.root().pid()), "-R", "-o", image.toString());
        assertRefused(tree.s(), "task " + tree.s() + ": is being checkpointed by cryo pid " + first.pid());
        letGo("frozen", hold);
        assertFirstCompletes(first, image, tree);
    }

    @Test
    void aTreeWithASubtreeBeingCheckpointedIsRefused() throws IOException {
        ChurnFixture tree = ChurnFixture.start(cleanup, subreaper, tmp, "quiet");
        Path hold = tmp.resolve("hold"), image = tmp.resolve("first.img");
        Proc first = startHeld("frozen", hold, "checkpoint", Long.toString(tree.s()), "-R", "--allow-leaks", "-o", image.toString());
        assertRefused(tree.root().pid(), "task " + tree.s() + ": is being checkpointed by cryo pid " + first.pid());
        letGo("frozen", hold);
        assertFirstCompletes(first, image, tree);
    }

    @Test
    void aTaskHeldByAnotherTracerIsRefusedNamingIt() throws IOException {
        ChurnFixture tree = ChurnFixture.start(cleanup, subreaper, tmp, "quiet");
        Path exe = Fixtures.compile(tmp, "tracer", Fixtures.Build.PIE);
        Proc tracer = cleanup.start("tracer", new ProcessBuilder(exe.toString(), Long.toString(tree.s1())));
        tracer.await("SEIZED", l -> l.startsWith("SEIZED "));
        assertRefused(tree.root().pid(), "task " + tree.s1() + ": is traced by pid " + tracer.pid() + " (tracer)");
        tracer.closeStdin();
        assertEquals(0, tracer.awaitExit(Timeouts.EXIT));
        for (long pid : List.of(tree.root().pid(), tree.s(), tree.s1(), tree.e())) Procfs.assertRunningUntraced(pid, "tree member " + pid);
        tree.root().checkOk();
    }

    @Test
    void aTreeARestartIsStillReleasingIsRefused() throws IOException {
        ChurnFixture tree = ChurnFixture.start(cleanup, subreaper, tmp, "quiet");
        Path image = tmp.resolve("tree.img");
        Cryo.checkpoint(cleanup, tree.root().pid(), image, "-R");
        Path hold = tmp.resolve("hold");
        Instant t0 = Instant.now();
        // in a fresh pid namespace, beside the original: cryo restart -> its init -> the restored root
        Proc restart = startHeld("releasing", hold, "restart", "--fresh-pid-ns", image.toString());
        long init = children(restart.pid()).getFirst();
        subreaper.foreign(cleanup, List.of(init), t0, "the init of the restored tree");
        long restored = children(init).getFirst();
        subreaper.foreign(cleanup, List.of(restored), t0, "the restored root");
        // the init was released before the tree (PidNamespaceInit.start): its child is still held
        assertRefused(init, "task " + restored + ": is being restarted by cryo pid " + restart.pid());
        letGo("releasing", hold);
        restart.send("check");
        restart.await("OK", l -> l.equals("OK") || l.startsWith("FAIL"));
        tree.root().checkOk();
        Procfs.assertRunningUntraced(restored, "the restored root");
        cryo.testing.Os.kill(init, 9);
        restart.awaitExit(Timeouts.CRYO);
    }

    private static List<Long> children(long pid) throws IOException {
        List<Long> out = new ArrayList<>();
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : tasks.toList()) {
                String c = Files.readString(t.resolve("children")).trim();
                if (!c.isEmpty()) for (String s : c.split("\\s+")) out.add(Long.parseLong(s));
            }
        }
        assertTrue(!out.isEmpty(), "pid " + pid + " has a child");
        return out;
    }
}
