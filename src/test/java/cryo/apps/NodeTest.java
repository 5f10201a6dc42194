package cryo.apps;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Node.js: a {@code setInterval} counter, {@code fs.watch} on a directory (inotify) and a {@code child_process.fork}
 * child on an IPC channel (a Unix socketpair) exchanging numbered messages, all on libuv's epoll loops with their
 * eventfds. Checkpointed, killed, restarted: the counter goes on without a gap, a file created in the directory
 * fires the watch, and the messages go on without a gap both ways (each side checks the numbers it receives).
 * Checkpointed with --leave-running, the tree goes on the same way, and so does the image restarted after it.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class NodeTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final String PROGRAM = """
            const { fork } = require('child_process');
            const fs = require('fs');
            const readline = require('readline');
            if (process.argv[2] === 'child') {
              let expect = 0;
              process.on('message', (m) => {
                if (m.n !== expect) process.send({ fail: 'child expected message ' + expect + ' got ' + m.n });
                expect = m.n + 1;
                process.send({ n: m.n });
              });
              process.on('disconnect', () => process.exit(0));
            } else {
              const child = fork(__filename, ['child']);
              let count = 0, sent = 0, received = 0;
              child.on('message', (m) => {
                if (m.fail) { console.log('FAIL ' + m.fail); return; }
                if (m.n !== received) console.log('FAIL parent expected message ' + received + ' got ' + m.n);
                received = m.n + 1;
              });
              fs.watch(process.argv[2], (type, name) => console.log('WATCH ' + name + ' END'));
              setInterval(() => {
                count++;
                console.log('TICK ' + count + ' END');
                child.send({ n: sent++ });
              }, 20);
              readline.createInterface({ input: process.stdin }).on('line', (l) => {
                if (l === 'status') console.log('STATUS count=' + count + ' sent=' + sent + ' received=' + received);
                else if (l === 'quit') { child.disconnect(); process.exit(0); }
              });
              console.log('READY ' + process.pid + ' ' + child.pid);
            }
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    /**
     * kill: checkpointed (the tree killed) and restarted. leave-running: the tree checkpointed with --leave-running
     * goes on as if nothing happened and quits, then the image is restarted: the restored counter starts again from
     * where the checkpoint was.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"kill", "leave-running"})
    void counterWatchAndForkedChildGoOnAfterRestart(String mode) throws IOException {
        Path node = Programs.need("node", "nodejs");
        Path watched = Files.createDirectories(tmp.resolve("watched"));
        Path program = Files.writeString(tmp.resolve("counter.js"), PROGRAM);
        Instant t0 = Instant.now();
        Proc p = cleanup.start("node", new ProcessBuilder(node.toString(), program.toString(), watched.toString()));
        String[] ready = p.await("READY", s -> s.startsWith("READY ")).split(" ");
        assertEquals(Long.toString(p.pid()), ready[1]);
        long child = Long.parseLong(ready[2]);
        assertEquals(List.of(child), List.copyOf(TreeFixtures.descendants(p.pid())), "the forked child is the only other process");
        subreaper.foreign(cleanup, List.of(child), t0, "node child");

        Files.writeString(watched.resolve("before-checkpoint"), "x");
        p.await("the watch to fire before the checkpoint", s -> s.equals("WATCH before-checkpoint END"));
        long countedBefore = num(awaitStatus(p, m -> num(m, "received") >= 10), "count");

        Path image = tmp.resolve("node.img");
        boolean leave = mode.equals("leave-running");
        if (leave) {
            Cryo.checkpoint(cleanup, p.pid(), image, "--leave-running");
            goesOn(p, watched, "after-checkpoint", Programs.lastNumber("TICK", p.out().all()));
            long[] original = Programs.assertCountsByOne("TICK", p.out().all(), "the original, left running:\n" + p.tails());
            assertEquals(1, original[0], p.tails());
        } else {
            Cryo.checkpoint(cleanup, p.pid(), image);
            p.awaitExit(Timeouts.EXIT);
            p.out().awaitEof(Timeouts.EXIT);
        }
        TreeFixtures.awaitAllGone(List.of(p.pid(), child), Timeouts.EXIT);
        long printed = Programs.lastNumber("TICK", p.out().all());   // by the original, up to its end

        Instant t1 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, p.pid());
        subreaper.foreign(cleanup, List.of(child), t1, "restored node child");
        goesOn(rest, watched, "after-restart", leave ? countedBefore : printed);
        TreeFixtures.awaitAllGone(List.of(p.pid(), child), Timeouts.EXIT);

        List<String> all = new ArrayList<>(p.out().all());
        all.addAll(rest.out().all());
        assertEquals(List.of(), Programs.fails(all), "the messages on the IPC channel went on without a gap both ways");
        if (leave) {
            long[] restored = Programs.assertCountsByOne("TICK", rest.out().all(), "restored:\n" + rest.tails());
            assertTrue(restored[0] - 1 >= countedBefore && restored[0] - 1 <= printed,
                    "the restored counter goes on from the checkpoint, which fell after count " + countedBefore
                            + " and before the original's last tick " + printed + ": it starts at " + restored[0]);
        } else {
            Programs.assertCountsOnWithoutGap("TICK", p.out().all(), rest.out().all());
        }
    }

    /**
     * The program counts 20 past {@code from} and gets 20 answers from its child past it, a file created in the
     * watched directory fires the watch, and it quits with status 0 when told.
     */
    private static void goesOn(Proc p, Path watched, String file, long from) throws IOException {
        awaitStatus(p, m -> num(m, "count") >= from + 20 && num(m, "received") >= from + 20);
        Files.writeString(watched.resolve(file), "x");
        p.await("the watch to fire for " + file, s -> s.equals("WATCH " + file + " END"));
        p.send("quit");
        assertEquals(0, p.awaitExit(Timeouts.EXIT), p.tails());
        p.out().awaitEof(Timeouts.EXIT);
    }

    private static long num(Map<String, String> status, String key) {
        return Long.parseLong(status.get(key));
    }

    /** Asks for the status until it satisfies the condition (bounded by {@link Timeouts#LINE}). */
    private static Map<String, String> awaitStatus(Proc p, Predicate<Map<String, String>> ok) {
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (true) {
            Map<String, String> m = p.status();
            if (ok.test(m)) return m;
            if (System.nanoTime() > deadline) throw new AssertionError("status stays " + m + "\n" + p.tails());
            cryo.testing.Procfs.sleep(java.time.Duration.ofMillis(50));
        }
    }
}
