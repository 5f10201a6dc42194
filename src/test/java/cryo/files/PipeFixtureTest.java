package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
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
import java.util.LinkedHashMap;
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
 * The pipe fixture (src/test/c/pipes.c) checks itself without cryo, so that a FAIL line in the other Pipe and
 * Fifo tests means cryo changed something. Also holds the helpers those tests share: starting the fixture,
 * its verify protocol, waiting for a checkpointed tree to be gone, and reading `cryo show` (text and JSON).
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class PipeFixtureTest {
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

    /** Every scenario the fixture knows, with a FIFO made in dir. */
    static List<String> allScenarios(Path dir) {
        Path fifo = dir.resolve("fifo");
        if (!Files.exists(fifo)) Os.mkfifo(fifo);
        return List.of("full", "big", "empty", "noreader", "eof", "dup", "nonblock", "fifo:" + fifo);
    }

    @Test
    void fixtureVerifiesItselfWithoutCryo() {
        Started s = start(cleanup, subreaper, tmp, allScenarios(tmp));
        Procfs.sleep(Duration.ofMillis(200));
        verifyOk(s.proc(), "without cryo", s.names());
        quit(s.proc());
    }

    @Test
    void outsideScenarioEchoesWithoutCryo() {
        Started s = start(cleanup, subreaper, tmp, List.of("outside:5"));
        s.proc().send("send hello pipe");
        assertEquals("GOT hello pipe", s.proc().await("GOT", l -> l.startsWith("GOT ")));
        quit(s.proc());
    }

    // ------------------------------------------------------------------ shared helpers

    /** A started fixture: its process, and per scenario (in order) the base fd and the child pid (0: none). */
    record Started(Proc proc, List<String> names, List<Integer> bases, List<Long> children, Instant t0) {
        long pid() {
            return proc.pid();
        }

        int base(String name) {
            return bases.get(index(name));
        }

        long child(String name) {
            return children.get(index(name));
        }

        int index(String name) {
            int i = names.indexOf(name);
            if (i < 0) throw new AssertionError("no scenario " + name + " in " + names);
            return i;
        }

        /** The root and every child still meant to be alive. */
        List<Long> pids() {
            List<Long> l = new ArrayList<>(List.of(pid()));
            for (long c : children) if (c > 0) l.add(c);
            return l;
        }
    }

    static Path exe(Path dir) {
        Path exe = dir.resolve("pipes");
        if (Files.isExecutable(exe)) return exe;
        return Fixtures.compile(dir, "pipes", Fixtures.Build.PIE);
    }

    /** Starts {@code pipes SCENARIO...} from the JVM and waits for READY; its children are registered for cleanup. */
    static Started start(Cleanup cleanup, Subreaper subreaper, Path dir, List<String> scenarios) {
        Path exe = exe(dir);
        List<String> cmd = new ArrayList<>(List.of(exe.toString()));
        cmd.addAll(scenarios);
        Instant t0 = Instant.now();
        Proc p = cleanup.start("pipes", new ProcessBuilder(cmd).directory(dir.toFile()));
        List<String> names = new ArrayList<>();
        List<Integer> bases = new ArrayList<>();
        List<Long> kids = new ArrayList<>();
        while (true) {
            String l = p.await("SETUP/READY", x -> x.startsWith("SETUP") || x.startsWith("READY "));
            if (l.startsWith("SETUP-FAIL")) fail("the pipe fixture could not set up: " + l);
            if (l.startsWith("READY ")) {
                assertEquals(p.pid(), Long.parseLong(l.substring(6).trim()), "READY names the fixture's pid");
                break;
            }
            String[] f = l.split(" ");
            names.add(f[1]);
            bases.add(Integer.parseInt(f[2]));
            kids.add(Long.parseLong(f[3]));
        }
        List<Long> real = kids.stream().filter(k -> k > 0).toList();
        subreaper.foreign(cleanup, real, t0, "pipes child");
        return new Started(p, names, bases, kids, t0);
    }

    /**
     * Sends "verify" to a fixture (directly or through the `cryo restart` that restored it) and expects "OK
     * name" for every scenario and "DONE 0"; fails with every FAIL line.
     */
    static void verifyOk(Proc p, String when, List<String> names) {
        p.send("verify");
        awaitVerifyOk(p, when, names);
    }

    /** The answer to a "verify" sent earlier: "OK name" for every scenario, then "DONE 0". */
    static void awaitVerifyOk(Proc p, String when, List<String> names) {
        List<String> ok = new ArrayList<>();
        List<String> fails = new ArrayList<>();
        while (true) {
            String l = p.await("the answer to verify (" + when + ")",
                    x -> x.startsWith("OK ") || x.startsWith("FAIL ") || x.startsWith("DONE "));
            if (l.startsWith("OK ")) ok.add(l.substring(3));
            else if (l.startsWith("FAIL ")) fails.add(l);
            else break;
        }
        if (!fails.isEmpty())
            fail(when + ": the pipe fixture found problems:\n  " + String.join("\n  ", fails) + "\nlast output:\n" + p.tails());
        assertEquals(names, ok, when + ": every scenario verified");
    }

    /** Sends quit and expects BYE and exit 0. */
    static void quit(Proc p) {
        p.send("quit");
        p.await("BYE", l -> l.equals("BYE"));
        assertEquals(0, p.awaitExit(Timeouts.EXIT), "the fixture exits 0 after quit");
    }

    /** Every pid of the image, as `cryo show --json` lists them in the TREE record. */
    static List<Long> imagePids(Cleanup cleanup, Path image) {
        List<Object> recs = showJson(cleanup, image);
        for (Object o : recs) {
            Map<?, ?> m = (Map<?, ?>) o;
            if (!"TREE".equals(m.get("type"))) continue;
            List<Long> pids = new ArrayList<>();
            for (Object p : (List<?>) m.get("processes")) pids.add(((Number) ((Map<?, ?>) p).get("pid")).longValue());
            return pids;
        }
        throw new AssertionError("cryo show --json has no TREE record");
    }

    /**
     * Waits until every pid of a checkpointed tree is gone (a JDK-started root must have been awaited first),
     * reaping the adopted zombies.
     */
    static void awaitGone(List<Long> pids) {
        TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(30));
    }

    /** Checkpoint, check the fixture was killed, wait until the whole tree is gone. Returns the image's pids. */
    static List<Long> checkpointAndAwaitGone(Cleanup cleanup, Started s, Path image, String... extra) {
        Cryo.checkpoint(cleanup, s.pid(), image, extra);
        List<Long> pids = imagePids(cleanup, image);
        assertEquals(s.pids().stream().sorted().toList(), pids.stream().sorted().toList(),
                "the image holds the fixture and its children");
        assertEquals(128 + Os.SIGKILL, s.proc().awaitExit(Timeouts.EXIT), "the fixture is killed after the checkpoint");
        awaitGone(pids);
        return pids;
    }

    /**
     * `cryo restart IMAGE` in the foreground; every pid of the image is registered for cleanup. Returns once
     * every process of the image runs untraced (cryo has let go of the whole tree), so what the test sends
     * next is handled by a tree that cryo has finished restoring.
     */
    static Proc restart(Cleanup cleanup, Subreaper subreaper, Path image, List<Long> pids) {
        Proc r = startRestart(cleanup, subreaper, image, pids);
        awaitReleased(r, pids);
        return r;
    }

    /** `cryo restart IMAGE` in the foreground, not waiting for anything. */
    static Proc startRestart(Cleanup cleanup, Subreaper subreaper, Path image, List<Long> pids) {
        Instant t0 = Instant.now();
        Proc r = Cryo.startRestart(cleanup, image, pids.getFirst());
        subreaper.foreign(cleanup, pids.subList(1, pids.size()), t0, "restored pipes child");
        return r;
    }

    /** Waits until every pid runs, is not ptrace-stopped and has no tracer; fails if cryo restart ends first. */
    static void awaitReleased(Proc restart, List<Long> pids) {
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        for (long p : pids) {
            while (!(Procfs.alive(p) && Procfs.tracerPid(p) == 0 && Procfs.state(p) != 't')) {
                if (!restart.isAlive()) {
                    restart.err().awaitEofQuietly(Duration.ofSeconds(5));
                    fail("cryo restart exited with status " + restart.process().exitValue() + " before pid " + p
                            + " of the image ran on its own;\n" + restart.tails());
                }
                if (System.nanoTime() > deadline)
                    fail("pid " + p + " was not released by cryo restart within " + Timeouts.CRYO.toSeconds() + " s (state "
                            + Procfs.state(p) + ", TracerPid " + Procfs.tracerPid(p) + ");\n" + restart.tails());
                Procfs.sleep(Duration.ofMillis(10));
            }
        }
    }

    // ------------------------------------------------------------------ cryo show

    /** One PIPE record as `cryo show` prints it. */
    record PipeLine(int objref, long inode, int capacity, int buffered, List<String> holders) {}

    /** The PIPE lines of `cryo show IMAGE`. */
    static List<PipeLine> showPipes(Cleanup cleanup, Path image) {
        String out = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        List<PipeLine> l = new ArrayList<>();
        for (String line : out.lines().toList()) {
            if (!line.startsWith("PIPE")) continue;
            Map<String, String> f = TreeFixtures.fields(line);
            for (String k : List.of("objref", "inode", "capacity", "buffered", "holders"))
                assertTrue(f.containsKey(k), "cryo show's PIPE line has no " + k + "=: " + line);
            String h = f.get("holders");
            assertTrue(h.startsWith("[") && h.endsWith("]"), "holders=[pid:fd,...]: " + line);
            List<String> holders = h.length() == 2 ? List.of() : List.of(h.substring(1, h.length() - 1).split(","));
            l.add(new PipeLine(Integer.parseInt(f.get("objref")), Long.parseLong(f.get("inode")),
                    Integer.parseInt(f.get("capacity")), Integer.parseInt(f.get("buffered")), holders));
        }
        return l;
    }

    /** The lines of `cryo show IMAGE` of one record type, as key=value maps. */
    static List<Map<String, String>> showRecords(Cleanup cleanup, Path image, String type) {
        String out = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        List<Map<String, String>> l = new ArrayList<>();
        for (String line : out.lines().toList())
            if (line.startsWith(type + " ") || line.equals(type)) l.add(TreeFixtures.fields(line));
        return l;
    }

    /** `cryo show --json IMAGE`, parsed: a list of records (maps). */
    static List<Object> showJson(Cleanup cleanup, Path image) {
        String out = Cryo.run(cleanup, "show", "--json", image.toString()).assertOk().stdout();
        Object v;
        try {
            v = new Json(out).parseAll();
        } catch (RuntimeException e) {
            throw new AssertionError("cryo show --json is not valid JSON: " + e.getMessage() + "\n"
                    + (out.length() > 3000 ? out.substring(0, 3000) + "..." : out), e);
        }
        assertTrue(v instanceof List<?>, "cryo show --json prints an array");
        @SuppressWarnings("unchecked")
        List<Object> l = (List<Object>) v;
        return l;
    }

    /** "pipe:[123]" of /proc/PID/fd/FD, as the inode number. */
    static long pipeInode(long pid, int fd) {
        try {
            String link = Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "fd", Integer.toString(fd))).toString();
            assertTrue(link.startsWith("pipe:["), "pid " + pid + " fd " + fd + " is " + link + ", not a pipe");
            return Long.parseLong(link.substring(6, link.length() - 1));
        } catch (IOException e) {
            throw new AssertionError("readlink /proc/" + pid + "/fd/" + fd + ": " + e, e);
        }
    }

    /** A minimal JSON reader (objects, arrays, strings, numbers, true/false/null). */
    static final class Json {
        private final String s;
        private int i;

        Json(String s) {
            this.s = s;
        }

        Object parseAll() {
            Object v = value();
            ws();
            if (i != s.length()) throw new IllegalArgumentException("trailing text at offset " + i);
            return v;
        }

        private void ws() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
        }

        private char peek() {
            ws();
            if (i >= s.length()) throw new IllegalArgumentException("unexpected end");
            return s.charAt(i);
        }

        private void expect(char c) {
            if (peek() != c) throw new IllegalArgumentException("expected '" + c + "' at offset " + i + ", found '" + s.charAt(i) + "'");
            i++;
        }

        private Object value() {
            char c = peek();
            if (c == '{') {
                i++;
                Map<String, Object> m = new LinkedHashMap<>();
                if (peek() == '}') {
                    i++;
                    return m;
                }
                while (true) {
                    String k = string();
                    expect(':');
                    m.put(k, value());
                    if (peek() == ',') {
                        i++;
                        continue;
                    }
                    expect('}');
                    return m;
                }
            }
            if (c == '[') {
                i++;
                List<Object> l = new ArrayList<>();
                if (peek() == ']') {
                    i++;
                    return l;
                }
                while (true) {
                    l.add(value());
                    if (peek() == ',') {
                        i++;
                        continue;
                    }
                    expect(']');
                    return l;
                }
            }
            if (c == '"') return string();
            if (s.startsWith("true", i)) {
                i += 4;
                return Boolean.TRUE;
            }
            if (s.startsWith("false", i)) {
                i += 5;
                return Boolean.FALSE;
            }
            if (s.startsWith("null", i)) {
                i += 4;
                return null;
            }
            int st = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) i++;
            if (st == i) throw new IllegalArgumentException("unexpected '" + c + "' at offset " + i);
            String num = s.substring(st, i);
            if (num.contains(".") || num.contains("e") || num.contains("E")) return Double.parseDouble(num);
            return Long.parseLong(num);
        }

        private String string() {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (true) {
                if (i >= s.length()) throw new IllegalArgumentException("unterminated string");
                char c = s.charAt(i++);
                if (c == '"') return b.toString();
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n' -> b.append('\n');
                    case 't' -> b.append('\t');
                    case 'r' -> b.append('\r');
                    case 'b' -> b.append('\b');
                    case 'f' -> b.append('\f');
                    case 'u' -> {
                        b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        i += 4;
                    }
                    default -> b.append(e);
                }
            }
        }
    }
}
