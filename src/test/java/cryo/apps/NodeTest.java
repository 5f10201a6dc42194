package cryo.apps;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Node.js: a {@code setInterval} counter, {@code fs.watch} on a directory (inotify) and a {@code child_process.fork}
 * child on an IPC channel (a Unix socketpair) exchanging numbered messages, all on libuv's epoll loops with their
 * eventfds. Checkpointed, killed, restarted: the counter goes on without a gap, a file created in the directory
 * fires the watch, and the messages go on without a gap both ways (each side checks the numbers it receives).
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

    @Test
    void counterWatchAndForkedChildGoOnAfterRestart() throws IOException {
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
        awaitStatus(p, m -> num(m, "received") >= 10);

        Path image = tmp.resolve("node.img");
        Cryo.checkpoint(cleanup, p.pid(), image);
        p.awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(List.of(p.pid(), child), Timeouts.EXIT);
        p.out().awaitEof(Timeouts.EXIT);
        long counted = Programs.lastNumber("TICK", p.out().all());   // up to the checkpoint

        Instant t1 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, p.pid());
        subreaper.foreign(cleanup, List.of(child), t1, "restored node child");
        awaitStatus(rest,
                m -> num(m, "count") >= counted + 20 && num(m, "received") >= counted + 20);
        Files.writeString(watched.resolve("after-restart"), "x");
        rest.await("the watch to fire after the restart", s -> s.equals("WATCH after-restart END"));
        rest.send("quit");
        assertEquals(0, rest.awaitExit(Timeouts.EXIT), rest.tails());
        rest.out().awaitEof(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(List.of(p.pid(), child), Timeouts.EXIT);

        List<String> all = new ArrayList<>(p.out().all());
        all.addAll(rest.out().all());
        assertEquals(List.of(), Programs.fails(all), "the messages on the IPC channel went on without a gap both ways");
        Programs.assertCountsOnWithoutGap("TICK", p.out().all(), rest.out().all());
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
