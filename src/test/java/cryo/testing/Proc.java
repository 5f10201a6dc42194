package cryo.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A process started by the test JVM (registered with {@link Cleanup}), with its stdout and stderr read
 * line by line, and helpers for the fixture protocol (READY / check / status / TICK), which also work
 * through a {@code cryo restart} process whose stdin/stdout the restored program inherited.
 */
public final class Proc {
    private final String name;
    private final Process process;
    private final Lines out;
    private final Lines err;
    private final OutputStream in;
    private long lastTick = -1;

    Proc(String name, Process process, InputStream stdout, InputStream stderr, OutputStream stdin) {
        this.name = name;
        this.process = process;
        this.out = stdout == null ? null : new Lines(name, stdout);
        this.err = stderr == null ? null : new Lines(name + ":err", stderr);
        this.in = stdin;
    }

    public String name() {
        return name;
    }

    public Process process() {
        return process;
    }

    public long pid() {
        return process.pid();
    }

    public Lines out() {
        return out;
    }

    public Lines err() {
        return err;
    }

    /** stdout as bytes, for a process started with {@link Cleanup#startRawStdout}. */
    public InputStream rawStdout() {
        if (out != null) throw new IllegalStateException("stdout is read as lines");
        return process.getInputStream();
    }

    /** stdin as bytes. */
    public OutputStream rawStdin() {
        return in;
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** Sends one line on stdin. */
    public void send(String line) {
        try {
            in.write((line + "\n").getBytes(StandardCharsets.ISO_8859_1));
            in.flush();
        } catch (IOException e) {
            throw new AssertionError("[" + name + "] cannot send '" + line + "': " + e + "\nlast output:\n" + tails(), e);
        }
    }

    public void closeStdin() {
        try {
            in.close();
        } catch (IOException ignored) {
            // already gone
        }
    }

    /** Waits for the process to exit and returns its status (128+signal when killed, as the JDK reports). */
    public int awaitExit(Duration timeout) {
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS))
                throw new AssertionError("[" + name + "] (pid " + pid() + ") did not exit within " + timeout.toSeconds()
                        + " s; last output:\n" + tails());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
        return process.exitValue();
    }

    public String tails() {
        return (out == null ? "" : "stdout:\n" + out.tail()) + (err == null ? "" : "stderr:\n" + err.tail());
    }

    // ------------------------------------------------------------------ fixture protocol

    /**
     * Like {@link Lines#await} on stdout, but a failure also shows stderr and the exit status (a restored
     * program's stdout ends when cryo gives up: the reason is on cryo's stderr).
     */
    public String await(String what, java.util.function.Predicate<String> p) {
        try {
            return out.await(what, p, Timeouts.LINE);
        } catch (AssertionError e) {
            if (err != null) err.awaitEofQuietly(java.time.Duration.ofSeconds(2));
            String exit = process.isAlive() ? "still running" : "exited with status " + process.exitValue();
            throw new AssertionError(e.getMessage() + "[" + name + "] (pid " + pid() + ") " + exit
                    + (err == null ? "" : "\nstderr:\n" + err.tail()), e);
        }
    }

    /** The next stdout line; keeps track of the last "TICK n" that went by. */
    private String nextLine(String what) {
        String l = await(what, x -> true);
        if (l.startsWith("TICK ")) lastTick = parseTick(l);
        return l;
    }

    private static long parseTick(String l) {
        return Long.parseLong(l.substring(5).trim().split(" ")[0]);
    }

    /** Waits for "READY <pid>" and returns the pid the program reported. */
    public long awaitReady() {
        String l = await("READY", s -> s.startsWith("READY "));
        return Long.parseLong(l.substring(6).trim());
    }

    /** Sends "check" and expects "OK" (no FAIL line on the way). Returns the WARN lines seen. */
    public List<String> checkOk() {
        send("check");
        return awaitOk("check");
    }

    /** Sends command (e.g. "check 3 500") and expects OK (no FAIL line on the way). Returns the WARN lines seen. */
    public List<String> checkOk(String command) {
        send(command);
        return awaitOk(command);
    }

    /** Sends "sharedwrite" (the MAP_SHARED file mapping really is shared with the file) and expects OK. */
    public void sharedWriteOk() {
        send("sharedwrite");
        awaitOk("sharedwrite");
    }

    private List<String> awaitOk(String what) {
        List<String> fails = new ArrayList<>();
        List<String> warns = new ArrayList<>();
        while (true) {
            String l = nextLine("the answer to '" + what + "'");
            if (l.startsWith("FAIL ")) fails.add(l);
            else if (l.startsWith("WARN ")) warns.add(l);
            else if (l.startsWith("FAILED") || (l.equals("OK") && !fails.isEmpty()))
                throw new AssertionError("[" + name + "] '" + what + "' found problems:\n  " + String.join("\n  ", fails)
                        + "\nlast output:\n" + tails());
            else if (l.equals("OK")) return warns;
        }
    }

    /** Sends "status" and returns its key=value fields (pid, checks, ticks, usr1, pending). */
    public Map<String, String> status() {
        send("status");
        List<String> fails = new ArrayList<>();
        while (true) {
            String l = nextLine("STATUS");
            if (l.startsWith("FAIL")) fails.add(l);
            if (l.startsWith("STATUS ")) {
                if (!fails.isEmpty())
                    throw new AssertionError("[" + name + "] problems reported:\n  " + String.join("\n  ", fails));
                Map<String, String> m = new LinkedHashMap<>();
                for (String kv : l.substring(7).trim().split(" ")) {
                    int eq = kv.indexOf('=');
                    if (eq > 0) m.put(kv.substring(0, eq), kv.substring(eq + 1));
                }
                return m;
            }
        }
    }

    /** The next "TICK n" of a sleep-mode fixture; a FAIL line on the way fails the test. */
    public long nextTick() {
        while (true) {
            String l = nextLine("TICK");
            if (l.startsWith("FAIL"))
                throw new AssertionError("[" + name + "] reported a problem: " + l + "\nlast output:\n" + tails());
            if (l.startsWith("TICK ")) return lastTick;
        }
    }

    /**
     * After the process is gone: the last "TICK n" it printed (read to the end of its stdout), or -1.
     * Fails if it printed a FAIL line that was not handed out yet.
     */
    public long lastTickAfterEof() {
        out.awaitEof(Timeouts.EXIT);
        for (String l : out.drain()) {
            if (l.startsWith("FAIL"))
                throw new AssertionError("[" + name + "] reported a problem: " + l + "\nlast output:\n" + tails());
            if (l.startsWith("TICK ")) lastTick = parseTick(l);
        }
        return lastTick;
    }
}
