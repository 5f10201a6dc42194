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
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Python asyncio: an event loop (epoll, a socketpair to wake itself) running a chain of {@code loop.call_later}
 * timers, a subprocess whose output it reads through a pipe (and whose exit asyncio's child-watcher thread waits
 * for in wait4), and an {@code asyncio.Queue} from both to a consumer task. The timers and the subprocess each
 * stop half-way until "go", so the checkpoint always falls in the middle. Checkpointed, killed, restarted, told
 * "go": the loop goes on and finishes with the right sums. Checkpointed with --leave-running, the tree finishes
 * right, and so does the image restarted after it.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class AsyncioTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final String PROGRAM = """
            import asyncio, os, sys

            TICKS = 100  # call_later timers, stopped at TICKS // 2 until "go"
            LINES = 60   # lines of the subprocess, which stops at LINES // 2 until it reads "go"
            CHILD = r'''
            import sys
            n = int(sys.argv[1])
            for i in range(n // 2): print(i, flush=True)
            if sys.stdin.readline().strip() != "go": sys.exit(3)
            for i in range(n // 2, n): print(i, flush=True)
            '''

            async def main():
                loop = asyncio.get_running_loop()
                q = asyncio.Queue()
                gate = asyncio.Event()
                timers_half = asyncio.Event()
                child_half = asyncio.Event()
                timers_done = loop.create_future()

                def tick(i):
                    q.put_nowait(('tick', i))
                    if i + 1 == TICKS:
                        timers_done.set_result(None)
                    elif i + 1 == TICKS // 2 and not gate.is_set():
                        loop.create_task(after_gate(i + 1))
                    else:
                        loop.call_later(0.005, tick, i + 1)

                async def after_gate(i):
                    timers_half.set()
                    await gate.wait()
                    loop.call_later(0.005, tick, i)

                async def consume(totals):
                    while True:
                        kind, v = await q.get()
                        if kind == 'end':
                            return
                        totals[kind] = totals.get(kind, 0) + v
                        totals[kind + 's'] = totals.get(kind + 's', 0) + 1
                        q.task_done()

                async def read_child(proc):
                    got = 0
                    while True:
                        line = await proc.stdout.readline()
                        if not line:
                            return
                        q.put_nowait(('line', int(line)))
                        got += 1
                        if got == LINES // 2:
                            child_half.set()

                pending = [b'']

                def on_stdin():
                    data = os.read(0, 4096)
                    if not data:
                        loop.remove_reader(0)
                    *lines, pending[0] = (pending[0] + data).split(b'\\n')
                    for line in lines:
                        if line == b'ping':
                            print('PONG', flush=True)
                        elif line == b'go':
                            gate.set()

                totals = {}
                consumer = loop.create_task(consume(totals))
                proc = await asyncio.create_subprocess_exec(sys.executable, '-c', CHILD, str(LINES),
                                                            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
                reader = loop.create_task(read_child(proc))
                loop.call_later(0.005, tick, 0)
                await timers_half.wait()
                await child_half.wait()
                loop.add_reader(0, on_stdin)
                print('READY', os.getpid(), proc.pid, flush=True)
                await gate.wait()
                proc.stdin.write(b'go\\n')
                await proc.stdin.drain()
                proc.stdin.close()
                await timers_done
                await reader
                status = await proc.wait()
                await q.join()
                q.put_nowait(('end', 0))
                await consumer
                want = {'tick': sum(range(TICKS)), 'ticks': TICKS, 'line': sum(range(LINES)), 'lines': LINES}
                print('RESULT', totals, 'child exit', status, flush=True)
                print('OK' if totals == want and status == 0 else 'FAIL want %r' % want, flush=True)

            asyncio.run(main())
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    /**
     * kill: checkpointed (the tree killed) and restarted. leave-running: the tree checkpointed with --leave-running
     * finishes right, then the image restarted finishes right too.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"kill", "leave-running"})
    void timersSubprocessAndQueueFinishWithTheRightResult(String mode) throws IOException {
        Path python = Fixtures.python();
        Path program = Files.writeString(tmp.resolve("loop.py"), PROGRAM);
        Instant t0 = Instant.now();
        Proc p = cleanup.start("python asyncio", new ProcessBuilder(python.toString(), program.toString()));
        String[] ready = p.await("READY", s -> s.startsWith("READY ")).split(" ");
        assertEquals(Long.toString(p.pid()), ready[1]);
        long child = Long.parseLong(ready[2]);
        assertEquals(List.of(child), List.copyOf(TreeFixtures.descendants(p.pid())), "the subprocess is the only other process");
        subreaper.foreign(cleanup, List.of(child), t0, "asyncio subprocess");

        Path image = tmp.resolve("asyncio.img");
        if (mode.equals("leave-running")) {
            Cryo.checkpoint(cleanup, p.pid(), image, "--leave-running");
            finishes(p, "left running");
        } else {
            Cryo.checkpoint(cleanup, p.pid(), image);
            p.awaitExit(Timeouts.EXIT);
        }
        TreeFixtures.awaitAllGone(List.of(p.pid(), child), Timeouts.EXIT);

        Instant t1 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, p.pid());
        subreaper.foreign(cleanup, List.of(child), t1, "restored asyncio subprocess");
        finishes(rest, "after restart");
        TreeFixtures.awaitAllGone(List.of(p.pid(), child), Timeouts.EXIT);
    }

    /** Answers a ping (its stdin is read by the loop), is told "go", and finishes with the right sums and status 0. */
    private static void finishes(Proc p, String when) {
        p.send("ping");
        p.await("PONG", s -> s.equals("PONG"));
        p.send("go");
        String l = p.await("OK or FAIL", s -> s.equals("OK") || s.startsWith("FAIL") || s.startsWith("Traceback"));
        assertEquals("OK", l, when + ", the timers, the subprocess and the queue finish with the right sums\n" + p.tails());
        assertEquals(0, p.awaitExit(Timeouts.EXIT), p.tails());
    }
}
