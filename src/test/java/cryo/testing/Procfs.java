package cryo.testing;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/** Reading process state from /proc, and bounded waits on it. */
public final class Procfs {
    private Procfs() {}

    /** The fields of /proc/PID/stat the tests use. */
    public record Stat(long pid, String comm, char state, long ppid, long pgrp, long session, long flags,
            long startTime) {
        public boolean isKernelThread() {
            return (flags & 0x00200000L) != 0; // PF_KTHREAD
        }
    }

    /**
     * Reads a /proc file whole, by plain read(2) calls until EOF (Files.readString trusts the size, which is
     * 0 for these files, and can come back short).
     */
    public static String read(Path p) throws IOException {
        try (InputStream in = new FileInputStream(p.toFile())) {
            return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
        }
    }

    public static Optional<Stat> stat(long pid) {
        String s;
        try {
            s = read(Path.of("/proc", Long.toString(pid), "stat"));
        } catch (IOException e) {
            return Optional.empty();
        }
        int open = s.indexOf('('), close = s.lastIndexOf(')');
        if (open < 0 || close < 0) return Optional.empty();
        String comm = s.substring(open + 1, close);
        String[] f = s.substring(close + 2).trim().split(" ");
        // f[0] is field 3 (state)
        return Optional.of(new Stat(pid, comm, f[0].charAt(0), Long.parseLong(f[1]), Long.parseLong(f[2]),
                Long.parseLong(f[3]), Long.parseLong(f[6]), Long.parseLong(f[19])));
    }

    /** Exists and is not a zombie. */
    public static boolean alive(long pid) {
        return stat(pid).map(s -> s.state() != 'Z' && s.state() != 'X').orElse(false);
    }

    /** Exists at all (a zombie counts: its pid is in use). */
    public static boolean exists(long pid) {
        return Files.exists(Path.of("/proc", Long.toString(pid)));
    }

    public static char state(long pid) {
        return stat(pid).map(Stat::state).orElse('?');
    }

    public static long ppid(long pid) {
        return stat(pid).map(Stat::ppid).orElse(-1L);
    }

    /** TracerPid from /proc/PID/status, -1 if the process is gone. */
    public static long tracerPid(long pid) {
        return statusField(pid, "TracerPid").map(Long::parseLong).orElse(-1L);
    }

    public static Optional<String> statusField(long pid, String key) {
        try {
            for (String l : read(Path.of("/proc", Long.toString(pid), "status")).split("\n"))
                if (l.startsWith(key + ":")) return Optional.of(l.substring(key.length() + 1).trim());
        } catch (IOException e) {
            return Optional.empty();
        }
        return Optional.empty();
    }

    /** Asserts the process runs normally: alive, not stopped or traced, no tracer attached. */
    public static void assertRunningUntraced(long pid, String what) {
        Stat s = stat(pid).orElseThrow(() -> new AssertionError(what + " (pid " + pid + ") is gone"));
        if (s.state() == 'Z' || s.state() == 'X') throw new AssertionError(what + " (pid " + pid + ") is dead");
        // a ptrace stop shows as 't', a job-control stop as 'T'; give a detaching tracer a moment
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while ((state(pid) == 't' || state(pid) == 'T' || tracerPid(pid) > 0) && System.nanoTime() < deadline)
            sleep(Duration.ofMillis(20));
        char st = state(pid);
        long tracer = tracerPid(pid);
        if (st == 't' || st == 'T' || tracer != 0)
            throw new AssertionError(what + " (pid " + pid + ") is left stopped or traced: state " + st + ", TracerPid "
                    + tracer);
    }

    /** Waits until no process (not even a zombie) has this pid. */
    public static void awaitGone(long pid, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (exists(pid)) {
            if (System.nanoTime() > deadline)
                throw new AssertionError("pid " + pid + " still in use after " + timeout.toSeconds() + " s (state "
                        + state(pid) + ")");
            sleep(Duration.ofMillis(10));
        }
    }

    /** Waits until the process is in the given state (e.g. 'Z'). */
    public static void awaitState(long pid, char want, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (state(pid) != want) {
            if (System.nanoTime() > deadline)
                throw new AssertionError("pid " + pid + " not in state " + want + " after " + timeout.toSeconds()
                        + " s (state " + state(pid) + ")");
            sleep(Duration.ofMillis(10));
        }
    }

    /** A pid no process uses now (searched downwards from the top of the pid range). */
    public static long freePid() {
        long max = 32768;
        try {
            max = Long.parseLong(read(Path.of("/proc/sys/kernel/pid_max")).trim());
        } catch (IOException | NumberFormatException ignored) {
            // keep the default
        }
        for (long p = max - 7; p > 300; p--)
            if (!exists(p)) return p;
        throw new AssertionError("no free pid");
    }

    /** A kernel thread visible here: pid 2 (kthreadd) if it is one, else any. */
    public static Optional<Stat> kernelThread() {
        Optional<Stat> two = stat(2);
        if (two.isPresent() && two.get().isKernelThread()) return two;
        try (var ds = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
            for (Path p : ds) {
                Optional<Stat> s = stat(Long.parseLong(p.getFileName().toString()));
                if (s.isPresent() && s.get().isKernelThread()) return s;
            }
        } catch (IOException | NumberFormatException ignored) {
            // none
        }
        return Optional.empty();
    }

    public static void sleep(Duration d) {
        try {
            Thread.sleep(d);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }
}
