package cryo.ipc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Python multiprocessing (start method fork, and spawn): a Pool of two workers in the middle of map (the first items wait
 * on a gate, so the checkpoint always falls inside map with both workers busy), a Queue holding 100 items, a
 * Lock the workers take for every item, a Value they add to, a RawValue (the gate) and a
 * shared_memory.SharedMemory the workers write. Locks and queues are semaphores in /dev/shm/sem.* files
 * (unlinked at once with fork, named with spawn), Values live in an unlinked /dev/shm/pym-* arena, the pool's and queue's pipes are os.pipe, and a
 * resource_tracker process tracks the SharedMemory. Checkpointed, killed, restarted, the gate opened: map
 * finishes with the right results, the queue gives its items back in order, the sums add up.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class MultiprocessingTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    /** /dev/shm names the program's processes may leave if the test fails: its SharedMemory and its arenas. */
    private final List<String> shmPrefixes = new ArrayList<>();

    /** The named /dev/shm files its processes map (spawn's semaphores), removed after the test. */
    private final List<Path> shmNames = new ArrayList<>();

    static final String PROGRAM = """
            import multiprocessing as mp, os, sys, time
            from multiprocessing import shared_memory

            N = 64

            def init(g, s, t, l, name):
                global gate, started, total, lock, shm
                gate, started, total, lock = g, s, t, l
                shm = shared_memory.SharedMemory(name=name)

            def work(x):
                with lock:
                    total.value += x
                    started.value += 1
                while not gate.value:
                    time.sleep(0.001)
                shm.buf[x] = x % 251
                return x * x

            def main():
                mp.set_start_method(sys.argv[1])
                gate = mp.RawValue('i', 0)
                started = mp.RawValue('i', 0)
                total = mp.Value('q', 0)
                lock = mp.Lock()
                q = mp.Queue()
                shm = shared_memory.SharedMemory(create=True, size=1 << 16)
                shm.buf[N:N + 5] = b'hello'
                for i in range(100):
                    q.put(('item', i))
                with mp.Pool(2, initializer=init, initargs=(gate, started, total, lock, shm.name)) as pool:
                    r = pool.map_async(work, range(N), chunksize=1)
                    while started.value < 2:  # both workers inside work()
                        time.sleep(0.001)
                    print('READY', os.getpid(), shm.name, flush=True)
                    while sys.stdin.readline().strip() == 'ping':
                        print('PONG', flush=True)
                    gate.value = 1
                    res = r.get(timeout=60)
                    got = [q.get(timeout=10) for _ in range(100)]
                fails = []
                if res != [x * x for x in range(N)]: fails.append('map results %r' % res)
                if got != [('item', i) for i in range(100)]: fails.append('queue %r' % got)
                if total.value != sum(range(N)): fails.append('total %d' % total.value)
                if bytes(shm.buf[:N]) != bytes(x % 251 for x in range(N)) or bytes(shm.buf[N:N + 5]) != b'hello':
                    fails.append('shared memory %r' % bytes(shm.buf[:N + 5]))
                shm.close()
                shm.unlink()
                print('FAIL ' + '; '.join(fails) if fails else 'OK', flush=True)

            if __name__ == '__main__':
                main()
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    @AfterEach
    void removeNames() {
        for (String prefix : shmPrefixes) PosixShmTest.removeShmNames(prefix);
        for (Path name : shmNames) {
            try {
                Files.deleteIfExists(name);
            } catch (IOException e) {
                throw new AssertionError("cannot remove " + name, e);
            }
        }
    }

    /** fork is the default on Linux; spawn execs each worker, which opens the semaphores by name (spawn keeps them named). */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"fork", "spawn"})
    void aPoolInTheMiddleOfMapWithAQueueALockAValueAndSharedMemory(String startMethod) throws IOException {
        Path python = Fixtures.python();
        Path program = Files.writeString(tmp.resolve("mp_program.py"), PROGRAM);
        Instant t0 = Instant.now();
        Proc p = cleanup.start("python multiprocessing " + startMethod, new ProcessBuilder(python.toString(), program.toString(), startMethod));
        shmPrefixes.add("pym-" + p.pid() + "-");
        String[] ready = p.await("READY", s -> s.startsWith("READY ")).split(" ");
        assertEquals(Long.toString(p.pid()), ready[1]);
        String shmName = ready[2];
        shmPrefixes.add(shmName);
        List<Long> others = new ArrayList<>(TreeFixtures.descendants(p.pid()));
        assertEquals(3, others.size(), "two pool workers and the resource tracker: " + others);
        subreaper.foreign(cleanup, others, t0, "multiprocessing worker or resource tracker");
        List<Long> pids = new ArrayList<>(others);
        pids.addFirst(p.pid());

        Map<Long, Set<String>> before = PosixShmTest.shmObjects(pids);
        shmNames.addAll(PosixShmTest.namesOf(before.keySet()));
        assertTrue(before.size() >= 4, "the lock's and the queues' semaphores, the Values' arena, the SharedMemory: " + before);
        Path image = tmp.resolve("mp.img");
        Cryo.checkpoint(cleanup, p.pid(), image);
        p.awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(30));
        assertTrue(Files.exists(Path.of("/dev/shm", shmName)), "the SharedMemory is still named");

        Instant t1 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, p.pid());
        subreaper.foreign(cleanup, others, t1, "restored multiprocessing worker or resource tracker");
        rest.send("ping");
        rest.await("PONG", s -> s.equals("PONG"));
        PosixShmTest.assertSameObjects(before, pids, "after restart");
        rest.send("go");
        String l = rest.await("OK or FAIL", s -> s.equals("OK") || s.startsWith("FAIL") || s.startsWith("Traceback"));
        assertEquals("OK", l, "after restart, map finishes with the right results, the queue holds its items, the sums add up\n" + rest.tails());
        assertEquals(0, rest.awaitExit(Timeouts.EXIT), rest.tails());
        assertFalse(Files.exists(Path.of("/dev/shm", shmName)), "the program unlinked its SharedMemory");
    }

    /**
     * A program using what multiprocessing builds on Unix sockets (once refused, issue #12): a duplex Pipe
     * (a socketpair), a Manager (a server process listening on a Unix socket), the forkserver start method (a
     * listening Unix socket and an epoll instance).
     * The tree runs on as before. (The program holds a flock: cryo once failed with a NullPointerException
     * looking for the locks of a child holding a pipe of a refused fd table.)
     */
    static final String SOCKETS = """
            import fcntl, multiprocessing as mp, os, sys, time

            def child(c):
                if c: c.send('hi')
                time.sleep(3600)

            if __name__ == '__main__':
                what = sys.argv[1]
                lock = open(sys.argv[2], 'w')
                fcntl.flock(lock, fcntl.LOCK_EX)  # cryo looks at the tree's locks even when it refuses it
                p = None
                if what == 'duplex-pipe':
                    a, b = mp.Pipe()
                    p = mp.Process(target=child, args=(b,))
                    p.start()
                    assert a.recv() == 'hi'
                elif what == 'manager':
                    m = mp.Manager()
                    d = m.dict()
                elif what == 'forkserver':
                    mp.set_start_method('forkserver')
                    p = mp.Process(target=child, args=(None,))
                    p.start()
                print('READY', os.getpid(), flush=True)
                while sys.stdin.readline().strip() == 'ping':
                    print('PONG', flush=True)
                if p:
                    p.kill()
                    p.join()
                print('BYE', flush=True)
            """;

    /**
     * A duplex Pipe (a Unix socketpair to a child), a Manager (a server process listening on a Unix socket,
     * the program connected to it) and the forkserver start method (its server listens on a Unix socket and
     * waits in epoll) are restored: after restart the program answers, ends its child (through the forkserver)
     * or shuts its Manager down over a new connection to the restored listener, and exits 0.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"duplex-pipe", "manager", "forkserver"})
    void unixSocketsOfMultiprocessingAreRestored(String what) throws IOException {
        Path python = Fixtures.python();
        Path program = Files.writeString(tmp.resolve("mp_sockets.py"), SOCKETS);
        Instant t0 = Instant.now();
        Proc p = cleanup.start("python " + what, new ProcessBuilder(python.toString(), program.toString(), what, tmp.resolve("lock").toString()));
        p.await("READY", s -> s.startsWith("READY "));
        List<Long> others = new ArrayList<>(TreeFixtures.descendants(p.pid()));
        subreaper.foreign(cleanup, others, t0, "multiprocessing helper process");
        List<Long> pids = new ArrayList<>(others);
        pids.addFirst(p.pid());
        Path image = tmp.resolve("mp_sockets.img");
        Cryo.checkpoint(cleanup, p.pid(), image);
        p.awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(30));
        Instant t1 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, p.pid());
        subreaper.foreign(cleanup, others, t1, "restored multiprocessing helper process");
        rest.send("ping");
        assertEquals("PONG", rest.await("PONG", s -> s.equals("PONG")));
        rest.send("quit");
        assertEquals("BYE", rest.await("BYE", s -> s.equals("BYE")));
        assertEquals(0, rest.awaitExit(Timeouts.EXIT), rest.tails());
    }
}
