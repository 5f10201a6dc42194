package cryo.sockets;

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
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
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
 * A real program over a Unix socketpair: Python's multiprocessing.Pipe (duplex: a socketpair carrying
 * length-prefixed pickles) or socket.socketpair with os.fork, between a parent and a child that echoes. The
 * parent keeps five numbered messages in flight and checks each echo is the next number. Half way it waits for
 * a line on stdin with five echoes queued to it: checkpointed there, killed and restarted, it goes on without
 * a gap to the end.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class PythonSocketPairTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final String PROGRAM = """
            import multiprocessing as mp, os, socket, struct, sys

            N = int(sys.argv[2])

            class Raw:
                def __init__(self, s): self.s = s
                def send(self, n): self.s.sendall(struct.pack('<q', n))
                def recv(self):
                    b = b''
                    while len(b) < 8:
                        c = self.s.recv(8 - len(b))
                        if not c: raise EOFError
                        b += c
                    return struct.unpack('<q', b)[0]

            def echo(conn):
                while True:
                    n = conn.recv()
                    if n < 0:
                        os._exit(0)
                    conn.send(n)

            if __name__ == '__main__':
                if sys.argv[1] == 'pipe':
                    ctx = mp.get_context('fork')
                    a, b = ctx.Pipe()
                    child = ctx.Process(target=echo, args=(b,), daemon=True)
                    child.start()
                    b.close()
                else:
                    s1, s2 = socket.socketpair()
                    pid = os.fork()
                    if pid == 0:
                        s1.close()
                        echo(Raw(s2))
                    s2.close()
                    a = Raw(s1)
                print('READY', os.getpid(), flush=True)
                sent = want = 0
                for _ in range(5):
                    a.send(sent); sent += 1
                while want < N:
                    n = a.recv()
                    if n != want:
                        print('GAP wanted', want, 'got', n, flush=True)
                        sys.exit(1)
                    want += 1
                    if sent < N:
                        a.send(sent); sent += 1
                    if want % 1000 == 0:
                        print('AT', want, flush=True)
                    if want == N // 2:
                        sys.stdin.readline()   # the checkpoint: five echoes wait in the queue
                a.send(-1)
                if sys.argv[1] == 'pipe':
                    child.join()
                else:
                    os.waitpid(pid, 0)
                print('DONE', want, flush=True)
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"pipe", "socketpair"})
    void numberedMessagesGoOnWithoutAGap(String how) throws IOException {
        Path python = Fixtures.python();
        Path program = Files.writeString(tmp.resolve("pair.py"), PROGRAM);
        int n = 20000;
        Instant t0 = Instant.now();
        Proc p = cleanup.start("python " + how, new ProcessBuilder(python.toString(), program.toString(), how, Integer.toString(n)));
        p.await("READY", s -> s.startsWith("READY "));
        List<Long> kids = new ArrayList<>(TreeFixtures.descendants(p.pid()));
        assertEquals(1, kids.size(), "the echoing child: " + kids);
        subreaper.foreign(cleanup, kids, t0, "echoing child");
        List<Long> pids = new ArrayList<>(List.of(p.pid()));
        pids.addAll(kids);
        p.await("AT " + n / 2, s -> s.equals("AT " + n / 2));
        Path image = tmp.resolve("pair.img");
        Cryo.checkpoint(cleanup, p.pid(), image);
        p.awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(30));

        Instant t1 = Instant.now();
        Proc r = Cryo.startRestart(cleanup, image, p.pid());
        subreaper.foreign(cleanup, kids, t1, "restored echoing child");
        r.send("go");
        String end = r.await("DONE or GAP", s -> s.startsWith("DONE") || s.startsWith("GAP") || s.startsWith("Traceback"));
        assertEquals("DONE " + n, end, "after restart the numbers go on without a gap to the end\n" + r.tails());
        assertEquals(0, r.awaitExit(Timeouts.EXIT), r.tails());
    }
}
