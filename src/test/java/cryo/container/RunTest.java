package cryo.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
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
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** cryo run: CMD as pid 1 of new namespaces, in the foreground and with -d, with --hostname, --net, --root. */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class RunTest {
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

    private Cryo.Result run(String... args) {
        List<String> a = new ArrayList<>(List.of("run"));
        a.addAll(List.of(args));
        return Cryo.run(cleanup, a.toArray(String[]::new));
    }

    @Test
    void foregroundExitsWithTheCommandsStatus() {
        assertEquals(3, run("--", "sh", "-c", "exit 3").exit());
        assertEquals(0, run("true").assertOk().exit());
        // CMD's options are its own
        assertEquals(List.of("--help"), lines(run("sh", "-c", "echo \"$0\"", "--help").assertOk()));
    }

    @Test
    void commandIsPidOneWithItsOwnProc() {
        Cryo.Result r = run("--", "sh", "-c", "echo $$; cd /proc && echo [0-9]*; ls /proc/1/fd; true").assertOk();
        // the shell is the only process of its namespace, with fds 0-2 only (ls is pid 2)
        assertEquals(List.of("1", "1", "0", "1", "2"), lines(r));
    }

    @Test
    void commandGetsCryosEnvironmentAndCwd() {
        Cryo.Result r = Cryo.runEnv(cleanup, Map.of("CRYO_RUN_TEST", "a b"), "run", "--", "sh", "-c", "echo \"$CRYO_RUN_TEST\"; pwd");
        assertEquals(List.of("a b", Cryo.root().toString()), lines(r.assertOk()));
    }

    /** The JVM raises its own soft open-files limit: the command gets the caller's, and no variable of cryo's. */
    @Test
    void commandGetsTheCallersOpenFilesLimit() {
        Cryo.Result r = Cryo.run(cleanup, Map.of(), List.of("sh", "-c", "ulimit -Sn 100; exec \"$0\" \"$@\""), null,
                "run", "--", "sh", "-c", "ulimit -Sn; echo \"[${CRYO_CALLER_NOFILE-}]\"");
        assertEquals(List.of("100", "[]"), lines(r.assertOk()));
    }

    @Test
    void hostnameIsTheContainersOnly() throws IOException {
        String host = Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
        assertEquals(List.of("box"), lines(run("--hostname", "box", "--", "hostname").assertOk()));
        assertEquals(host, Files.readString(Path.of("/proc/sys/kernel/hostname")).trim());
        assertEquals(List.of(host), lines(run("hostname").assertOk()));
    }

    /** SIGKILL from the host is the one signal a pid 1 without handlers cannot ignore: cryo exits 128+9. */
    @Test
    void foregroundKilledBySignal() {
        ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), "run", "--", "sleep", "1000")).directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of());
        Instant t0 = Instant.now();
        Proc cryo = cleanup.start("cryo run", pb);
        long init = awaitContainerChild(cryo);
        cleanup.foreign(init, t0, "container init");
        ProcessHandle.of(init).ifPresent(ProcessHandle::destroyForcibly);
        assertEquals(137, cryo.awaitExit(Timeouts.EXIT), cryo::tails);
        assertFalse(Procfs.exists(init), "cryo reaped its child");
    }

    @Test
    void detachedPrintsTheInitsHostPid() throws IOException {
        Path hostname = tmp.resolve("hostname");
        long init = detached("--hostname", "box", "--", "sh", "-c", "hostname >" + hostname + ".new; mv " + hostname + ".new " + hostname + "; sleep 1000");
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (!Files.exists(hostname)) {
            assertTrue(System.nanoTime() < deadline, "the container did not write its host name");
            Procfs.sleep(Duration.ofMillis(10));
        }
        assertEquals("box", Files.readString(hostname).trim());
        assertTrue(Procfs.statusField(init, "NSpid").orElseThrow().matches("\\d+\\s+1"), () -> "NSpid " + Procfs.statusField(init, "NSpid"));
        for (String ns : List.of("pid", "mnt", "uts", "ipc")) {
            assertNotEquals(Files.readSymbolicLink(Path.of("/proc/self/ns", ns)), Files.readSymbolicLink(Path.of("/proc/" + init + "/ns", ns)), ns);
        }
        assertEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/net")), Files.readSymbolicLink(Path.of("/proc/" + init + "/ns/net")));
        // its own session, untraced, and no longer cryo's child: cryo is gone
        Procfs.Stat st = Procfs.stat(init).orElseThrow();
        assertEquals(init, st.session());
        assertEquals(0, Procfs.tracerPid(init));
        // stdin, stdout and stderr are /dev/null: `P=$(cryo run -d ...)` does not wait for the container
        for (int fd = 0; fd <= 2; fd++) assertEquals(Path.of("/dev/null"), Files.readSymbolicLink(Path.of("/proc/" + init + "/fd/" + fd)));
        killAndAwait(init);
    }

    @Test
    void netHasOnlyLoopbackUp() throws IOException {
        Fixtures.assumeTool("ip");
        List<String> inside = lines(run("--net", "--", "sh", "-c", "ip -o link; cat /proc/net/dev").assertOk());
        assertTrue(inside.getFirst().matches("1: lo: <LOOPBACK,UP,LOWER_UP>.*"), () -> inside.toString());
        assertEquals(Set.of("lo"), interfaces(inside.subList(1, inside.size())));
        // without --net: the host's interfaces
        Set<String> host = interfaces(Files.readAllLines(Path.of("/proc/net/dev")));
        assertEquals(host, interfaces(lines(run("cat", "/proc/net/dev").assertOk())));
    }

    @Test
    void rootIsTheGivenTree() throws Exception {
        Path root = smallRoot();
        Files.writeString(root.resolve("marker"), "inside\n");
        List<String> out = lines(run("--root", root.toString(), "--hostname", "r", "--", "sh", "-c",
                "read m </marker; echo $m; echo /*; pwd; cd /proc && echo [0-9]*").assertOk());
        TreeSet<String> top = new TreeSet<>();
        try (var s = Files.list(root)) {
            s.forEach(p -> top.add("/" + p.getFileName()));
        }
        assertEquals(List.of("inside", String.join(" ", top), "/", "1"), out);
        assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains(root.toString()), "nothing of the container is mounted on the host");
        // PATH lookup happens in the container's tree: its sh, not the host's
        assertEquals(127, run("--root", root.toString(), "--", "true").exit());
    }

    @Test
    void badArgumentsLeaveNothing() throws IOException {
        subreaper.off();
        Leftovers before = Leftovers.snapshot();
        Path noProc = Files.createDirectories(tmp.resolve("noproc"));
        List<List<String>> bad = List.of(List.of(), List.of("--"), List.of("--hostname", "x"), List.of("--hostname"),
                List.of("--frob", "--", "true"), List.of("--root", tmp.resolve("missing").toString(), "--", "true"),
                List.of("--root", noProc.toString(), "--", "true"), List.of("--hostname", "x".repeat(65), "--", "true"),
                List.of("--root", "/", "--", "true"), List.of("--", "no-such-command-here"), List.of("-d", "--", "no-such-command-here"),
                List.of("--net", "--", "/no/such/file"), List.of("--", "/etc/passwd"));
        for (List<String> args : bad) {
            Cryo.Result r = run(args.toArray(String[]::new));
            String line = r.assertOneLineError();
            assertFalse(line.contains("Exception"), line);
        }
        assertEquals(127, run("--", "no-such-command-here").exit());
        assertEquals(126, run("--", "/etc/passwd").exit());
        assertTrue(run("--help").assertOk().stdout().startsWith("usage: cryo run"));
        assertTrue(Cryo.run(cleanup, "--help").assertOk().stdout().contains("run [--hostname NAME]"));
        before.assertNone(cleanup, "cryo run with bad arguments");
    }

    // ------------------------------------------------------------------ helpers

    private static List<String> lines(Cryo.Result r) {
        String s = r.stdout();
        return s.isEmpty() ? List.of() : List.of(s.split("\n"));
    }

    /** The interface names in /proc/net/dev lines. */
    private static Set<String> interfaces(List<String> lines) {
        Set<String> names = new TreeSet<>();
        Pattern p = Pattern.compile("\\s*([^\\s:|]+):.*");
        for (String l : lines) {
            Matcher m = p.matcher(l);
            if (m.matches() && !l.contains("|")) names.add(m.group(1));
        }
        return names;
    }

    /**
     * `cryo run -d ARGS`: the printed pid, registered to be killed and reaped by pid. cryo's stdout is a file:
     * the container keeps it open.
     */
    private long detached(String... args) throws IOException {
        Instant t0 = Instant.now();
        List<String> a = new ArrayList<>(List.of("run", "-d"));
        a.addAll(List.of(args));
        Path out = Files.createTempFile(tmp, "out", ""), err = Files.createTempFile(tmp, "err", "");
        ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), a.toArray(String[]::new))).directory(Cryo.root().toFile())
                .redirectInput(Path.of("/dev/null").toFile()).redirectOutput(out.toFile()).redirectError(err.toFile());
        Cryo.environment(pb, Map.of());
        Process p = pb.start();
        cleanup.process(p);
        try {
            assertTrue(p.waitFor(Timeouts.CRYO.toMillis(), TimeUnit.MILLISECONDS), "cryo run -d did not return");
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
        String printed = Files.readString(out).trim();
        assertEquals(0, p.exitValue(), () -> "cryo run -d: " + printed + " " + readQuietly(err));
        assertEquals("", readQuietly(err));
        long pid = Long.parseLong(printed);
        subreaper.foreign(cleanup, List.of(pid), t0, "container init");
        return pid;
    }

    private static String readQuietly(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return "";
        }
    }

    private static void killAndAwait(long pid) {
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        long deadline = System.nanoTime() + Timeouts.EXIT.toNanos();
        while (Procfs.exists(pid)) {
            Subreaper.reapIfAdoptedZombie(pid);
            if (System.nanoTime() > deadline) throw new AssertionError("pid " + pid + " still there");
            Procfs.sleep(Duration.ofMillis(10));
        }
    }

    /** The child of cryo that is pid 1 of its own namespace, once it runs untraced. */
    private static long awaitContainerChild(Proc cryo) {
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (true) {
            for (long c : children(cryo.pid())) {
                if (Procfs.statusField(c, "NSpid").orElse("").matches("\\d+\\s+1") && Procfs.tracerPid(c) == 0) return c;
            }
            if (!cryo.isAlive() || System.nanoTime() > deadline) throw new AssertionError("no container init under cryo:\n" + cryo.tails());
            Procfs.sleep(Duration.ofMillis(10));
        }
    }

    private static List<Long> children(long pid) {
        List<Long> kids = new ArrayList<>();
        try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path t : (Iterable<Path>) tasks::iterator) {
                try {
                    String c = Procfs.read(t.resolve("children")).trim();
                    if (!c.isEmpty()) for (String x : c.split("\\s+")) kids.add(Long.parseLong(x));
                } catch (IOException e) {
                    // thread gone
                }
            }
        } catch (IOException e) {
            // cryo gone
        }
        return kids;
    }

    /** A root file system of /bin/sh and the libraries ldd names, and an empty /proc. */
    private Path smallRoot() throws Exception {
        Fixtures.assumeTool("ldd");
        Path root = tmp.resolve("root");
        Files.createDirectories(root.resolve("proc"));
        Files.createDirectories(root.resolve("bin"));
        Path sh = Path.of("/bin/sh").toRealPath();
        Files.copy(sh, root.resolve("bin/sh"), java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
        Process p = new ProcessBuilder("ldd", sh.toString()).redirectErrorStream(true).start();
        String ldd = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        Matcher m = Pattern.compile("(/\\S+)").matcher(ldd);
        while (m.find()) {
            Path lib = Path.of(m.group(1));
            Path to = root.resolve(lib.toString().substring(1));
            Files.createDirectories(to.getParent());
            if (!Files.exists(to)) Files.copy(lib, to);
        }
        return root;
    }
}
