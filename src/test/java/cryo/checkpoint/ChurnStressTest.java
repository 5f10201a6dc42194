package cryo.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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
 * A tree that never stops changing (src/test/c/churn.c: threads come and go, mappings are made, moved,
 * protected and unmapped, children are forked by a thread and exit or exec, a process execs itself from a
 * non-leader thread over and over) is checkpointed with --leave-running again and again: every checkpoint
 * succeeds, the tree runs on and passes its self-check, and every tenth image is restarted (in a fresh pid
 * namespace, beside the original), passes the same self-check, and is killed. Iterations: the system
 * property cryo.stress.iterations (9 by default, so no restart in the normal suite: a restored copy of a
 * process caught inside pthread_create sometimes loses its threads, an open restore bug; bench/races.sh
 * runs 200).
 */
@Timeout(value = 60, unit = TimeUnit.MINUTES)
class ChurnStressTest {
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

    @Test
    void aChurningTreeIsCheckpointedAgainAndAgain() throws IOException {
        int iterations = Integer.getInteger("cryo.stress.iterations", 9);
        ChurnFixture tree = ChurnFixture.start(cleanup, subreaper, tmp, "churn");
        tree.root().checkOk();
        Path image = tmp.resolve("churn.img");
        int restarts = 0;
        List<String> badRestores = new ArrayList<>();
        for (int i = 1; i <= iterations; i++) {
            Files.deleteIfExists(image);
            int n = i;
            Cryo.Result r = Cryo.run(cleanup, "checkpoint", Long.toString(tree.root().pid()), "-R", "-o", image.toString());
            assertEquals(0, r.exit(), () -> "checkpoint " + n + " of " + iterations + ": " + r.describe());
            if (i % 10 != 0) continue;
            tree.root().checkOk();
            try {
                restartAndCheck(image, i);
            } catch (AssertionError e) {
                // every restart is tried: the count of bad restored copies is what bench/races.sh reports
                badRestores.add("image " + i + ": " + e.getMessage().lines().findFirst().orElse(""));
                Files.copy(image, tmp.getParent().resolve("churn-bad-" + ProcessHandle.current().pid() + "-" + i + ".img"),
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            restarts++;
        }
        tree.root().checkOk();
        Procfs.assertRunningUntraced(tree.root().pid(), "the churning root after " + iterations + " checkpoints");
        System.out.println("ChurnStressTest: " + iterations + " checkpoints, " + restarts + " restarts, "
                + (restarts - badRestores.size()) + " restored copies passed their self-check");
        assertEquals(List.of(), badRestores, "restored copies that failed their self-check");
    }

    /** Restarts the image beside the original, asks the restored root for its self-check, kills the copy. */
    private void restartAndCheck(Path image, int i) throws IOException {
        Instant t0 = Instant.now();
        List<String> cmd = Cryo.command(List.of(), "restart", "--fresh-pid-ns", image.toString());
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of());
        Proc restart = cleanup.start("restart of image " + i, pb);
        try {
            restart.checkOk();
        } finally {
            // the init (cryo restart's one child once the stub is gone): its namespace, and the restored tree in
            // it, die with it
            List<Long> children = childrenOf(restart);
            subreaper.foreign(cleanup, children, t0, "child of cryo restart of image " + i);
            for (long c : children) Os.kill(c, 9);
            restart.awaitExit(Timeouts.CRYO);
            if (children.size() != 1) throw new AssertionError("cryo restart has one child, the init: " + children + "\n" + restart.tails());
        }
    }

    private static List<Long> childrenOf(Proc restart) throws IOException {
        List<Long> out = new ArrayList<>();
        try (var tasks = Files.list(Path.of("/proc/" + restart.pid() + "/task"))) {
            for (Path t : tasks.toList()) {
                String c = Files.readString(t.resolve("children")).trim();
                if (!c.isEmpty()) for (String s : c.split("\\s+")) out.add(Long.parseLong(s));
            }
        }
        return out;
    }
}
