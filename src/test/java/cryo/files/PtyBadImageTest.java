package cryo.files;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.sys.Termios;
import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import cryo.tty.CttyRecord;
import cryo.tty.PtyDataRecord;
import cryo.tty.PtyRecord;
import cryo.tty.PtySlaveRecord;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * Images of the pty fixture (src/test/c/ptys.c) that do not hold together, re-encoded with cryo's own record
 * classes: a slave whose pair's record is missing, invalid modes, input for a slave never opened, a line
 * without its delimiter, a controlling terminal whose foreground group is not in the session. Each restart
 * fails with one line and leaves no process behind; the unchanged re-encoded image restarts.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class PtyBadImageTest {
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

    /** The records with the first matching one changed (or dropped when change gives null). */
    private static <R extends ImageRecord> UnaryOperator<List<ImageRecord>> change(Class<R> kind, Predicate<R> which, UnaryOperator<R> change) {
        return rs -> {
            List<ImageRecord> out = new ArrayList<>();
            boolean done = false;
            for (ImageRecord r : rs) {
                if (!done && kind.isInstance(r) && which.test(kind.cast(r))) {
                    done = true;
                    R c = change.apply(kind.cast(r));
                    if (c != null) out.add(c);
                } else {
                    out.add(r);
                }
            }
            if (!done) throw new AssertionError("no " + kind.getSimpleName() + " record to change");
            return out;
        };
    }

    @Test
    void badPtyRecordsFailTheRestartWithOneLine() {
        Path exe = Fixtures.compile(tmp, "ptys", Fixtures.Build.PIE);
        java.time.Instant t0 = java.time.Instant.now();
        Proc p = cleanup.start("ptys", new ProcessBuilder(exe.toString()).directory(tmp.toFile()));
        String ready = p.await("READY", x -> x.startsWith("READY "));
        List<Long> pids = new ArrayList<>();
        for (String f : ready.substring(6).trim().split(" ")) pids.add(Long.parseLong(f));
        subreaper.foreign(cleanup, pids.subList(1, pids.size()), t0, "ptys child");
        Path good = tmp.resolve("good.img");
        Cryo.checkpoint(cleanup, p.pid(), good);
        assertTrue(p.awaitExit(Timeouts.EXIT) == 128 + Os.SIGKILL, "the fixture is killed after the checkpoint");
        int pairA = TreeFixtures.withRecords(good, rs -> {
            for (ImageRecord r : rs) if (r instanceof CttyRecord c) return c.pty();
            throw new AssertionError("no CTTY record");
        });

        record Variant(UnaryOperator<List<ImageRecord>> change, List<String> hints) {}
        Map<String, Variant> variants = new LinkedHashMap<>();
        variants.put("a slave whose pair has no PTY record", new Variant(
                change(PtySlaveRecord.class, s -> s.pty() == pairA, s -> TreeFixtures.with(s, "pty", 99999)), List.of("PTY_SLAVE", "99999")));
        variants.put("a pair whose PTY record is gone", new Variant(
                change(PtyRecord.class, x -> x.objref() == pairA, x -> null), List.of("PTY", "" + pairA)));
        variants.put("a termios with another line discipline", new Variant(
                change(PtyRecord.class, x -> x.objref() == pairA, x -> TreeFixtures.with(x, "termios", TreeFixtures.with(x.termios(), "line", 3))),
                List.of("PTY", "termios.c_line")));
        variants.put("a termios with unknown local flag bits", new Variant(
                change(PtyRecord.class, x -> x.objref() == pairA,
                        x -> TreeFixtures.with(x, "termios", TreeFixtures.with(x.termios(), "lflag", x.termios().lflag() | 0x40000000))),
                List.of("PTY", "termios.c_lflag")));
        variants.put("input for a slave never opened", new Variant(rs -> {
            List<ImageRecord> out = new ArrayList<>();
            for (ImageRecord r : rs) {
                out.add(r);
                if (r instanceof PtyRecord x && x.slave() == PtyRecord.Slave.NEVER_OPENED) {
                    out.add(new PtyDataRecord(x.objref(), PtyDataRecord.Direction.INPUT, List.of(new PtyDataRecord.Chunk(PtyDataRecord.Kind.LINE, "x\n".getBytes()))));
                }
            }
            return out;
        }, List.of("PTY_DATA", "never opened")));
        variants.put("a line without its delimiter", new Variant(
                change(PtyDataRecord.class, d -> d.pty() == pairA && d.direction() == PtyDataRecord.Direction.INPUT,
                        d -> TreeFixtures.with(d, "chunks", List.of(new PtyDataRecord.Chunk(PtyDataRecord.Kind.LINE, "no newline".getBytes())))),
                List.of("PTY_DATA", "LINE")));
        variants.put("a foreground group not in the session", new Variant(
                change(CttyRecord.class, c -> true, c -> TreeFixtures.with(c, "foreground", pids.getFirst().intValue())),
                List.of("CTTY", "foreground")));
        variants.put("a canonical slave made raw", new Variant(
                change(PtyRecord.class, x -> x.objref() == pairA, x -> TreeFixtures.with(x, "termios",
                        x.termios().withFlags(x.termios().iflag(), x.termios().oflag(), x.termios().lflag() & ~Termios.ICANON))),
                List.of("PTY_DATA", "not canonical")));

        TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(60));
        subreaper.off(); // from here on, an orphan left by a failed restart must show up as a leftover
        List<Executable> checks = new ArrayList<>();
        int i = 0;
        for (var v : variants.entrySet()) {
            Path bad = tmp.resolve("bad-" + (i++) + ".img");
            TreeFixtures.rewrite(good, bad, v.getValue().change());
            checks.add(() -> expectOneLine(bad, pids, v.getKey(), v.getValue().hints()));
        }
        assertAll(checks);

        subreaper.on();
        Path same = tmp.resolve("same.img");
        TreeFixtures.rewrite(good, same, rs -> rs);
        Proc r = PipeFixtureTest.restart(cleanup, subreaper, same, pids);
        r.send("quit");
        r.await("BYE", l -> l.equals("BYE"));
        r.awaitExit(Timeouts.EXIT);
    }

    private void expectOneLine(Path image, List<Long> pids, String what, List<String> hints) {
        TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(60));
        Leftovers before = Leftovers.snapshot();
        String line;
        try {
            line = Cryo.restartExpectingFailure(cleanup, image, pids.getFirst()).assertOneLineError();
        } catch (AssertionError e) {
            throw new AssertionError("restart of an image with " + what + ": " + e.getMessage(), e);
        }
        System.out.println("[PtyBadImageTest] " + what + ": " + line);
        for (long p : pids) assertFalse(Procfs.exists(p), "restart of an image with " + what + " left pid " + p);
        before.assertNone(cleanup, "restart of an image with " + what);
        for (String h : hints) assertTrue(line.contains(h), "the error for " + what + " mentions '" + h + "': " + line);
    }
}
