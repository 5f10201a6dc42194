package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A shell pipeline {@code seq | awk | while read ...} whose consumer is slow (it sleeps 0.1 s every 1000
 * records), so that at every checkpoint both pipes are full, the producer and the filter are blocked in
 * write() and bytes sit in every pipe. It is checkpointed, restarted (-d) and checkpointed again three times;
 * the consumer checks every record (sequence number and the filter's transform) and at the end prints the
 * count, a checksum of the sequence and the number of bad records: every record arrives exactly once, in
 * order, and EOF reaches the consumer after the last one.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class PipeChainTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final int N = 100_000;
    static final int ROUNDS = 3;
    static final String PAYLOAD = "payload-abcdefghijklmnopqrstuvwxyz-0123456789";

    /** producer | filter | consumer; the consumer prints "P n" every 1000 records and "DONE n sum bad" at the end. */
    static final String SCRIPT = "exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-; "
            + "seq 1 " + N + " | awk '{ printf \"%d %d %s\\n\", $1, ($1 * 7919) % 65521, \"" + PAYLOAD + "\" }' | "
            + "{ n=0; s=0; bad=0; while read a b c; do n=$((n+1)); "
            + "if [ \"$a\" = \"$n\" ] && [ \"$b\" = \"$(( (n * 7919) % 65521 ))\" ] && [ \"$c\" = \"" + PAYLOAD + "\" ]; "
            + "then s=$(( (s * 31 + a) % 1000000007 )); "
            + "else bad=$((bad+1)); if [ $bad -le 5 ]; then echo \"BAD $n: $a $b $c\"; fi; fi; "
            + "if [ $((n % 1000)) = 0 ]; then echo \"P $n\"; sleep 0.1; fi; "
            + "done; echo \"DONE $n $s $bad\"; }";

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    static long expectedSum() {
        long s = 0;
        for (long a = 1; a <= N; a++) s = (s * 31 + a) % 1_000_000_007L;
        return s;
    }

    /** The last "P n" of the output (0 if none); fails on a BAD line or a P line out of order. */
    static long progress(Path out) throws IOException {
        long last = 0;
        for (String l : Files.readString(out, StandardCharsets.ISO_8859_1).lines().toList()) {
            if (l.startsWith("BAD")) throw new AssertionError("the consumer saw a bad record: " + l);
            if (l.startsWith("P ")) {
                long n = Long.parseLong(l.substring(2).trim());
                if (n != last + 1000)
                    throw new AssertionError("progress line 'P " + n + "' after 'P " + last + "': a line repeated or lost");
                last = n;
            }
        }
        return last;
    }

    static long awaitProgress(Path out, long atLeast, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        long n;
        while ((n = progress(out)) < atLeast) {
            if (System.nanoTime() > deadline)
                throw new AssertionError("the consumer reached record " + n + ", expected at least " + atLeast + " within "
                        + timeout.toSeconds() + " s; output tail:\n" + tail(out));
            Procfs.sleep(Duration.ofMillis(20));
        }
        return n;
    }

    static String tail(Path out) throws IOException {
        List<String> l = Files.readString(out, StandardCharsets.ISO_8859_1).lines().toList();
        return String.join("\n", l.subList(Math.max(0, l.size() - 10), l.size()));
    }

    @Test
    void producerFilterConsumerSeesEveryRecordOnceAcrossThreeCheckpoints() throws IOException {
        Path out = tmp.resolve("chain.out");
        Path err = tmp.resolve("chain.err");
        ProcessBuilder pb = new ProcessBuilder("sh", "-c", SCRIPT).directory(tmp.toFile())
                .redirectInput(Path.of("/dev/null").toFile()).redirectOutput(out.toFile()).redirectError(err.toFile());
        Proc sh = cleanup.start("chain", pb);
        long root = sh.pid();
        awaitProgress(out, 2000, Timeouts.LINE);

        List<Long> pids = List.of();
        for (int round = 0; round < ROUNDS; round++) {
            Procfs.sleep(Duration.ofMillis(300));
            Path image = tmp.resolve("chain-" + round + ".img");
            Cryo.checkpoint(cleanup, root, image);
            pids = PipeFixtureTest.imagePids(cleanup, image);
            assertEquals(root, pids.getFirst(), "round " + round + ": the TREE's root is sh");
            assertTrue(pids.size() >= 4, "round " + round + ": sh, seq, awk and the consumer are in the tree: " + pids);

            // two pipes, each saved once, each with bytes in flight
            List<PipeFixtureTest.PipeLine> pipes = PipeFixtureTest.showPipes(cleanup, image);
            System.out.println("[PipeChainTest] round " + round + ": tree " + pids + ", pipes " + pipes);
            assertEquals(2, pipes.size(), "round " + round + ": two pipes in the image: " + pipes);
            for (PipeFixtureTest.PipeLine p : pipes) {
                assertTrue(p.buffered() > 0, "round " + round + ": data in flight in every pipe: " + p);
                // a writer and a reader, and the consumer's `sleep` child when it is caught with stdin inherited
                assertTrue(p.holders().size() >= 2 && p.holders().size() <= 3, "round " + round + ": the holders of " + p);
            }

            if (round == 0) assertEquals(128 + Os.SIGKILL, sh.awaitExit(Timeouts.EXIT), "sh is killed after the checkpoint");
            PipeFixtureTest.awaitGone(pids);
            long k = progress(out);
            Procfs.sleep(Duration.ofMillis(300));
            assertEquals(k, progress(out), "round " + round + ": nothing is consumed while the tree is gone");
            assertTrue(k < N - 20_000, "round " + round + ": the pipeline is still far from done (" + k + " of " + N
                    + "): the consumer is not slow enough for this test");

            subreaper.foreign(cleanup, pids, Instant.now(), "restored chain process");
            Cryo.Result r = Cryo.run(cleanup, "restart", "-d", image.toString()).assertOk();
            List<String> lines = r.stdout().lines().toList();
            assertEquals(Long.toString(root), lines.isEmpty() ? "" : lines.getLast().trim(),
                    "restart -d prints the root's pid: " + r.describe());
            Procfs.assertRunningUntraced(root, "the restored sh");
            long now = awaitProgress(out, k + 3000, Timeouts.LINE);
            System.out.println("[PipeChainTest] round " + round + ": record " + k + " at checkpoint, " + now + " after restart");
        }

        // let it run to the end
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        String done = null;
        while (done == null) {
            progress(out);
            for (String l : Files.readString(out, StandardCharsets.ISO_8859_1).lines().toList())
                if (l.startsWith("DONE")) done = l;
            if (done == null && System.nanoTime() > deadline)
                throw new AssertionError("the pipeline did not finish within 120 s after the last restart; output tail:\n"
                        + tail(out));
            Procfs.sleep(Duration.ofMillis(50));
        }
        assertEquals("DONE " + N + " " + expectedSum() + " 0", done,
                "the consumer saw all " + N + " records exactly once, in order (count, checksum, bad records)");
        assertEquals(N, progress(out));
        PipeFixtureTest.awaitGone(new ArrayList<>(pids));
        assertEquals("", Files.readString(err, StandardCharsets.ISO_8859_1), "the pipeline wrote to stderr");
        long dones = Files.readString(out, StandardCharsets.ISO_8859_1).lines().filter(l -> l.startsWith("DONE")).count();
        assertEquals(1, dones, "one DONE line");
    }
}
