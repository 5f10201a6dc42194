package cryo.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

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
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * `cryo checkpoint` killed at each distinct moment (cryo.sys.KillPoint, CRYO_KILL_AT): the tree runs on
 * unharmed. The target (src/test/c/rescue.c) checks its own registers (ymm8-15, rbx, r12-r15) on every turn of a
 * loop, sleeps in nanosleep in another thread and blocks in read() in a third, and takes SIGUSR1 and SIGRTMIN on its
 * sigaltstack. cryo stops itself at the point (CRYO_KILL_MODE=stop); the test sends the frozen tree SIGUSR1,
 * SIGRTMIN and SIGUSR2 (blocked), then kills cryo with SIGKILL, and checks: every thread running again, the loop
 * counting with its registers intact, both handlers run (on the altstack), SIGUSR2 still pending, each thread's
 * blocked mask as before, /proc/PID/maps as before (outside the scratch lifetime: see SCRATCH_LEFT), and nothing in
 * the image's directory.
 */
@Timeout(120)
class KilledCheckpointTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    static Path build;

    @TempDir
    Path dir;

    static Path exe;

    private static final int SIGRTMIN = 34;

    @BeforeAll
    static void compile() {
        Fixtures.assumeRoot();
        exe = Fixtures.compile(build, "rescue", Fixtures.Build.PIE);
    }

    /**
     * Points between the scratch mapping and its unmapping: a kill there leaves the scratch memory mapped in the
     * process (the one leftover, documented in docs/design.md); everything else must be as before.
     */
    private static final List<String> SCRATCH_LEFT = List.of("scratch-mapped", "borrowed", "remote-call-done", "mask-given-back", "before-munmap");

    static Stream<Arguments> points() {
        List<Arguments> out = new ArrayList<>();
        for (String p : List.of("frozen", "before-scratch", "scratch-mapped", "borrowed#1", "borrowed#2", "borrowed#40",
                "remote-call-done#1", "remote-call-done#30", "remote-call-done#70", "mask-given-back#1", "mask-given-back#2",
                "before-munmap", "scratch-unmapped", "dumping-pages", "before-commit")) {
            out.add(Arguments.of("--leave-running", p));
        }
        for (String p : List.of("frozen", "borrowed#5", "mask-given-back#1", "scratch-unmapped", "dumping-pages", "before-commit")) {
            out.add(Arguments.of("kill-mode", p));
        }
        for (String p : List.of("frozen#1", "scratch-mapped#1", "borrowed#1", "remote-call-done#1", "remote-call-done#2", "before-munmap#1",
                "pre-copy-round#1", "frozen#2", "borrowed#3")) {
            out.add(Arguments.of("--pre-copy", p));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} killed at {1}")
    @MethodSource("points")
    void treeRunsOnUnharmed(String mode, String point) throws Exception {
        Instant t0 = Instant.now();
        Proc sh = cleanup.start("rescue", new ProcessBuilder("sh", "-c", exe + " & wait")
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())));
        long pid = sh.awaitReady();
        cleanup.foreign(pid, t0, "rescue fixture");
        Tick before = nextTick(sh, null);
        Map<String, String> masks = masks(pid);
        String maps = Files.readString(Path.of("/proc/" + pid + "/maps"));
        List<String> fds = fds(pid);

        Path image = dir.resolve("tree.img");
        List<String> args = new ArrayList<>(List.of("checkpoint"));
        if (!mode.equals("kill-mode")) args.add(mode);
        args.addAll(List.of("-o", image.toString(), Long.toString(pid)));
        ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), args.toArray(String[]::new))).directory(Cryo.root().toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        Cryo.environment(pb, Map.of("CRYO_KILL_AT", point, "CRYO_KILL_MODE", "stop"));
        Proc cryo = cleanup.start("cryo", pb);
        awaitStopped(cryo, point);
        boolean frozen = !point.startsWith("pre-copy-round");
        if (frozen) {
            for (String tid : masks.keySet()) {
                assertEquals('t', Procfs.state(Long.parseLong(tid)), "thread " + tid + " is frozen at " + point);
            }
        }
        assertTrue(Os.kill(pid, Os.SIGUSR1) && Os.kill(pid, SIGRTMIN) && Os.kill(pid, Os.SIGUSR2));
        Os.kill(cryo.pid(), Os.SIGKILL);
        cryo.awaitExit(Timeouts.EXIT);

        for (String tid : masks.keySet()) Procfs.assertRunningUntraced(Long.parseLong(tid), "thread " + tid + " after cryo died at " + point);
        Tick after = nextTick(sh, t -> t.usr1 > before.usr1 && t.rtmin > before.rtmin);
        after = nextTick(sh, t -> t.turns > 0);   // a later one: the loop goes on
        assertTrue(after.turns > before.turns && after.sleeps > before.sleeps, "the target counts on: " + before + " then " + after);
        // the sigaltstack survived an rt_sigreturn on a rescue frame: the handler checks it runs on it
        long usr1 = after.usr1;
        assertTrue(Os.kill(pid, Os.SIGUSR1));
        nextTick(sh, t -> t.usr1 > usr1);
        assertEquals(masks, masks(pid), "each thread's blocked mask is as before");
        long pending = Long.parseLong(Procfs.statusField(pid, "ShdPnd").orElseThrow(), 16);
        assertEquals(1L << (Os.SIGUSR2 - 1), pending, "SIGUSR2 (blocked) is still pending, nothing else is");
        String mapsNow = Files.readString(Path.of("/proc/" + pid + "/maps"));
        if (!leavesScratch(point)) assertEquals(maps, mapsNow, "no mapping left in the target");
        else assertTrue(extraMappings(maps, mapsNow) <= 1, "at most cryo's scratch mapping is left:\n" + maps + "---\n" + mapsNow);
        assertTrue(Files.readString(Path.of("/proc/" + pid + "/smaps")).lines()
                .noneMatch(l -> l.startsWith("VmFlags:") && List.of(l.split(" ")).contains("uw")), "no userfaultfd write-protection is left");
        assertEquals(fds, fds(pid), "the target's descriptors are as before");
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(), s.toList(), "no image and no temporary file are left");
        }
        assertTrue(Procfs.alive(pid));
    }

    private static boolean leavesScratch(String point) {
        String name = point.contains("#") ? point.substring(0, point.indexOf('#')) : point;
        return SCRATCH_LEFT.contains(name);
    }

    private static long extraMappings(String before, String now) {
        List<String> b = before.lines().toList();
        return now.lines().filter(l -> !b.contains(l)).count();
    }

    /** Waits until cryo stopped itself at the point; fails if it ended first (the point was never reached). */
    private static void awaitStopped(Proc cryo, String point) {
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (Procfs.state(cryo.pid()) != 'T') {
            if (!cryo.isAlive()) fail("cryo ended (" + cryo.process().exitValue() + ") without reaching " + point + ": " + cryo.tails());
            if (System.nanoTime() > deadline) fail("cryo did not reach " + point + " in time: " + cryo.tails());
            Procfs.sleep(Duration.ofMillis(5));
        }
    }

    private static List<String> fds(long pid) throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    /** Each thread's SigBlk, by tid. */
    private static Map<String, String> masks(long pid) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : s.toList()) {
                String status = Files.readString(t.resolve("status"));
                out.put(t.getFileName().toString(), status.lines().filter(l -> l.startsWith("SigBlk:")).findFirst().orElseThrow());
            }
        }
        return out;
    }

    record Tick(long turns, long sleeps, long usr1, long rtmin) {
    }

    /** The next TICK line (matching want, if given); a BAD line from the target fails the test. */
    private static Tick nextTick(Proc sh, java.util.function.Predicate<Tick> want) {
        Tick[] got = new Tick[1];
        sh.await("TICK" + (want == null ? "" : " as wanted"), l -> {
            if (l.startsWith("BAD")) throw new AssertionError("the target says: " + l);
            if (!l.startsWith("TICK ")) return false;
            String[] f = l.split(" ");
            got[0] = new Tick(Long.parseLong(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3]), Long.parseLong(f[4]));
            return want == null || want.test(got[0]);
        });
        return got[0];
    }
}
