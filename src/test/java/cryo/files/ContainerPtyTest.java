package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A container (unshare: its own pid, mount, UTS and IPC namespaces) with a devpts of its own, whose init runs
 * `script` after pty numbers 0 and 1 were taken and let go: the pair is number 2, and a restart, which makes the
 * devpts anew, gives it number 2 again; the loop in it goes on.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ContainerPtyTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("script");
        Fixtures.assumeTool("unshare");
    }

    /** The pty number of the slave a process has at fd 0 (its link is /dev/pts/N inside its root). */
    private static String slaveOf(long pid) throws Exception {
        return Files.readSymbolicLink(Path.of("/proc/" + pid + "/fd/0")).toString();
    }

    /** The only child of pid. */
    private static long child(long pid) throws Exception {
        String c = Procfs.read(Path.of("/proc/" + pid + "/task/" + pid + "/children")).trim();
        assertTrue(!c.isEmpty() && !c.contains(" "), "pid " + pid + " has one child: '" + c + "'");
        return Long.parseLong(c);
    }

    /** The lines of the loop in log: 9-digit numbers (a line cut by the checkpoint does not count). */
    private static long loopLines(Path log) throws Exception {
        return Files.readAllLines(log).stream().filter(l -> l.trim().matches("[0-9]{9}")).count();
    }

    private static void awaitLoopLines(Path log, long atLeast, String what) throws Exception {
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (loopLines(log) < atLeast) {
            assertTrue(System.nanoTime() < deadline, what + ": " + log + " has " + loopLines(log) + " lines of the loop, not " + atLeast);
            Procfs.sleep(java.time.Duration.ofMillis(20));
        }
    }

    @Test
    void theContainersOwnDevptsGivesThePairItsNumberAgain() throws Exception {
        Path dir = Files.createTempDirectory("cryo-ptyc");
        cleanup.deleteLater(dir);
        Path log = dir.resolve("log");
        String script = String.join("\n",
                "mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts",
                "exec 5<>/dev/pts/ptmx 6<>/dev/pts/ptmx",
                "script -q -c 'bash -c \"while :; do date +%N; sleep 0.1; done\"' /dev/null 5<&- 6<&- </dev/null >>" + log + " &",
                "until [ -e /dev/pts/2 ]; do sleep 0.01; done",
                "exec 5<&- 6<&-",
                "echo READY",
                "wait");
        Instant t0 = Instant.now();
        Proc u = cleanup.start("unshare", new ProcessBuilder("unshare", "--fork", "--pid", "--mount-proc", "--uts", "--ipc", "sh", "-ec", script)
                .redirectInput(Path.of("/dev/null").toFile()));
        u.out().await("READY", l -> l.equals("READY"), Timeouts.LINE);
        long init = child(u.pid());
        cleanup.foreign(init, t0, "container init");
        subreaper.track(List.of(init));
        long bash = child(child(init));
        assertEquals("/dev/pts/2", slaveOf(bash));
        awaitLoopLines(log, 3, "before the checkpoint");

        Path image = dir.resolve("c.img");
        Cryo.checkpoint(cleanup, init, image);
        Procfs.awaitGone(init, Timeouts.EXIT);
        long before = loopLines(log);
        String show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        assertTrue(show.lines().anyMatch(l -> l.startsWith("PTY ") && l.contains("index=2")), show);

        ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), "restart", "-d", image.toString())).directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of());
        pb.redirectInput(Path.of("/dev/null").toFile());
        Instant t1 = Instant.now();
        Proc r = cleanup.start("cryo restart", pb);
        String pidLine = r.out().await("the restored init's pid", l -> l.trim().matches("[0-9]{1,7}"), Timeouts.CRYO);
        long restored = Long.parseLong(pidLine.trim());
        cleanup.foreign(restored, t1, "restored container init");
        subreaper.track(List.of(restored));
        assertEquals(0, r.awaitExit(Timeouts.CRYO), () -> "cryo restart failed: " + r.tails());
        assertEquals("/dev/pts/2", slaveOf(child(child(restored))), "the pair has its number again in the container's new devpts");
        awaitLoopLines(log, before + 5, "after restart");
        cryo.testing.Os.kill(restored, cryo.testing.Os.SIGKILL);
        Procfs.awaitGone(restored, Timeouts.EXIT);
    }
}
