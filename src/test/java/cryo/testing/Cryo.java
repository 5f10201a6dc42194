package cryo.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@code bin/cryo} (from the project root, {@code user.dir}) as a subprocess. Surefire sets CRYO_CP to
 * target/classes; when it is missing (a test run from an IDE) it is set here.
 */
public final class Cryo {
    private Cryo() {}

    public static Path root() {
        return Path.of(System.getProperty("user.dir")).toAbsolutePath();
    }

    public static Path bin() {
        return root().resolve("bin").resolve("cryo");
    }

    /** The result of a finished cryo command. */
    public record Result(List<String> command, int exit, byte[] stdoutBytes, String stderr) {
        public String stdout() {
            return new String(stdoutBytes, StandardCharsets.ISO_8859_1);
        }

        public List<String> stderrLines() {
            String s = stderr.endsWith("\n") ? stderr.substring(0, stderr.length() - 1) : stderr;
            return s.isEmpty() ? List.of() : Arrays.asList(s.split("\n", -1));
        }

        public String describe() {
            return "`" + String.join(" ", command) + "` exited " + exit + "\n--- stderr:\n" + stderr
                    + "--- stdout (" + stdoutBytes.length + " bytes):\n" + printable(stdout());
        }

        /** Exit 0. */
        public Result assertOk() {
            if (exit != 0) fail("expected success: " + describe());
            assertNoStackTrace(this);
            return this;
        }

        /**
         * The error contract: non-zero exit, exactly one line on stderr starting with "cryo: ", no Java stack
         * trace anywhere. Returns that line.
         */
        public String assertOneLineError() {
            assertTrue(exit != 0, () -> "expected a failure: " + describe());
            assertNoStackTrace(this);
            List<String> lines = stderrLines();
            assertEquals(1, lines.size(), () -> "expected exactly one line on stderr: " + describe());
            assertTrue(lines.get(0).startsWith("cryo: "), () -> "the error line must start with 'cryo: ': " + describe());
            return lines.get(0);
        }
    }

    static void assertNoStackTrace(Result r) {
        for (String s : List.of(r.stderr(), r.stdout())) {
            assertFalse(s.contains("Exception"), () -> "a Java exception leaked: " + r.describe());
            assertFalse(s.contains("\tat "), () -> "a Java stack trace leaked: " + r.describe());
        }
    }

    private static String printable(String s) {
        if (s.length() > 4000) s = s.substring(0, 4000) + "...";
        StringBuilder sb = new StringBuilder();
        for (char c : s.toCharArray()) sb.append(c == '\n' || c == '\t' || (c >= 32 && c < 127) ? c : '.');
        return sb.toString();
    }

    /** The environment every cryo subprocess gets (CRYO_CP made sure of), plus extra entries. */
    public static void environment(ProcessBuilder pb, Map<String, String> extra) {
        Map<String, String> env = pb.environment();
        if (!env.containsKey("CRYO_CP")) env.put("CRYO_CP", root().resolve("target").resolve("classes").toString());
        env.remove("CRYO_FAULT");
        env.putAll(extra);
    }

    public static List<String> command(List<String> prefix, String... args) {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.add(bin().toString());
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** Runs cryo with stdin from /dev/null and waits (bounded) for it to finish. */
    public static Result run(Cleanup cleanup, String... args) {
        return run(cleanup, Map.of(), List.of(), null, args);
    }

    /**
     * `cryo run -d ...` or `cryo restart -d ...` (args from "run"/"restart" on): the host pid it printed (its
     * last numeric line), a container's init or a restored root that is nobody's child here, registered with
     * cleanup to be killed by pid. A caller that is a subreaper tracks it too.
     */
    public static long detached(Cleanup cleanup, String... args) {
        Instant t0 = Instant.now();
        Result r = run(cleanup, args).assertOk();
        long pid = r.stdout().lines().map(String::trim).filter(l -> l.matches("[0-9]+")).reduce((a, b) -> b).map(Long::parseLong)
                .orElseThrow(() -> new AssertionError("printed no pid: " + r.describe()));
        cleanup.foreign(pid, t0, "the pid `cryo " + args[0] + " -d` printed");
        return pid;
    }

    public static Result runEnv(Cleanup cleanup, Map<String, String> env, String... args) {
        return run(cleanup, env, List.of(), null, args);
    }

    /**
     * Runs {@code prefix... bin/cryo args...} with the given extra environment and stdin (a file, or
     * /dev/null when null), collects stdout and stderr, and waits at most {@link Timeouts#CRYO}.
     */
    public static Result run(Cleanup cleanup, Map<String, String> env, List<String> prefix, Path stdin, String... args) {
        List<String> cmd = command(prefix, args);
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(root().toFile());
        environment(pb, env);
        pb.redirectInput(stdin == null ? ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())
                : ProcessBuilder.Redirect.from(stdin.toFile()));
        return collect(cleanup, cmd, pb);
    }

    /** Runs any command line (e.g. {@code sh -c ...}) the same way. */
    public static Result collect(Cleanup cleanup, List<String> cmd, ProcessBuilder pb) {
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new AssertionError("cannot start " + cmd + ": " + e, e);
        }
        cleanup.process(p);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Thread to = copier(p.getInputStream(), out);
        Thread te = copier(p.getErrorStream(), err);
        try {
            if (!p.waitFor(Timeouts.CRYO.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                p.waitFor(Timeouts.EXIT.toMillis(), TimeUnit.MILLISECONDS);
                to.join(Duration.ofSeconds(5));
                te.join(Duration.ofSeconds(5));
                fail("`" + String.join(" ", cmd) + "` did not finish within " + Timeouts.CRYO.toSeconds()
                        + " s\n--- stderr:\n" + err.toString(StandardCharsets.ISO_8859_1));
            }
            // the streams end when every holder of the pipes has closed them; a process cryo left behind
            // could hold them: do not wait for that forever
            to.join(Duration.ofSeconds(10));
            te.join(Duration.ofSeconds(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
        byte[] o;
        byte[] e;
        synchronized (out) {
            o = out.toByteArray();
        }
        synchronized (err) {
            e = err.toByteArray();
        }
        return new Result(cmd, p.exitValue(), o, new String(e, StandardCharsets.ISO_8859_1));
    }

    private static Thread copier(InputStream in, ByteArrayOutputStream to) {
        return Thread.ofPlatform().daemon().start(() -> {
            byte[] buf = new byte[1 << 16];
            try (in) {
                int n;
                while ((n = in.read(buf)) > 0) {
                    synchronized (to) {
                        to.write(buf, 0, n);
                    }
                }
            } catch (IOException ignored) {
                // the process is gone
            }
        });
    }

    // ------------------------------------------------------------------ common steps

    /** {@code cryo checkpoint PID -o IMAGE [extra...]}, expected to succeed. */
    public static Result checkpoint(Cleanup cleanup, long pid, Path image, String... extra) {
        List<String> a = new ArrayList<>(List.of("checkpoint", Long.toString(pid), "-o", image.toString()));
        a.addAll(List.of(extra));
        Result r = run(cleanup, a.toArray(String[]::new)).assertOk();
        assertTrue(Files.isRegularFile(image), () -> "no image written at " + image + ": " + r.describe());
        return r;
    }

    /**
     * Starts {@code cryo restart IMAGE [extra...]} in the foreground with piped stdin/stdout/stderr: the
     * restored process (pid {@code pid}) talks through them. It is registered for cleanup by pid.
     */
    public static Proc startRestart(Cleanup cleanup, Path image, long pid, String... extra) {
        List<String> a = new ArrayList<>(List.of("restart"));
        a.addAll(List.of(extra));
        a.add(image.toString());
        List<String> cmd = command(List.of(), a.toArray(String[]::new));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(root().toFile());
        environment(pb, Map.of());
        cleanup.foreign(pid, Instant.now(), "restored process");
        return cleanup.start("restart", pb);
    }

    /**
     * {@code cryo restart IMAGE} that is expected to fail: returns its result, and if cryo instead brings a
     * process back (pid {@code pid} appears as its child) kills that process at once and fails.
     */
    public static Result restartExpectingFailure(Cleanup cleanup, Path image, long pid) {
        Proc p = startRestart(cleanup, image, pid);
        p.closeStdin();
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (p.isAlive()) {
            // restored and released (no longer traced by cryo): cryo took the image for a good one
            if (Procfs.alive(pid) && Procfs.ppid(pid) == p.pid() && Procfs.tracerPid(pid) == 0
                    && Procfs.state(pid) != 't') {
                Procfs.sleep(Duration.ofMillis(200));
                if (Procfs.alive(pid) && Procfs.ppid(pid) == p.pid() && Procfs.tracerPid(pid) == 0) {
                    ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
                    p.awaitExit(Timeouts.EXIT);
                    fail("cryo restart " + image.getFileName() + " restored pid " + pid
                            + " and let it run, but it should have refused the image;\n" + p.tails());
                }
            }
            if (System.nanoTime() > deadline) {
                p.process().destroyForcibly();
                fail("cryo restart " + image.getFileName() + " did not finish within " + Timeouts.CRYO.toSeconds()
                        + " s;\n" + p.tails());
            }
            Procfs.sleep(Duration.ofMillis(10));
        }
        p.out().awaitEof(Duration.ofSeconds(10));
        p.err().awaitEof(Duration.ofSeconds(10));
        String out = String.join("\n", p.out().all());
        StringBuilder err = new StringBuilder();
        for (String l : p.err().all()) err.append(l).append('\n');
        return new Result(List.of(bin().toString(), "restart", image.toString()), p.process().exitValue(),
                out.getBytes(StandardCharsets.ISO_8859_1), err.toString());
    }

    /** Mode bits of a file as "rw-------". */
    public static String perms(Path p) {
        try {
            return java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /** Names in a directory (to check nothing, not even a temporary file, was left). */
    public static List<String> list(Path dir) {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
