package cryo.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * Reads the lines of a stream on a daemon thread and hands them out in order, each wait bounded by a
 * timeout. Lines other than the frequent "TICK" lines are echoed to the test log with the stream's name.
 */
public final class Lines {
    private final String name;
    private final List<String> lines = new ArrayList<>();
    private boolean eof;
    private IOException error;
    private int cursor;

    public Lines(String name, InputStream in) {
        this.name = name;
        Thread.ofPlatform().daemon().name("lines-" + name).start(() -> pump(in));
    }

    private void pump(InputStream in) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.ISO_8859_1))) {
            String l;
            while ((l = r.readLine()) != null) {
                if (!l.startsWith("TICK ")) System.out.println("[" + name + "] " + l);
                synchronized (this) {
                    lines.add(l);
                    notifyAll();
                }
            }
        } catch (IOException e) {
            synchronized (this) {
                error = e;
            }
        } finally {
            synchronized (this) {
                eof = true;
                notifyAll();
            }
        }
    }

    public String name() {
        return name;
    }

    /** The next line not handed out yet; fails on timeout or end of stream. */
    public String next(String what, Duration timeout) {
        return await(what, l -> true, timeout);
    }

    /** Skips to the first line (not handed out yet) that matches; fails on timeout or end of stream. */
    public synchronized String await(String what, Predicate<String> p, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            while (cursor < lines.size()) {
                String l = lines.get(cursor++);
                if (p.test(l)) return l;
            }
            if (eof)
                throw new AssertionError("[" + name + "] ended" + (error != null ? " (" + error + ")" : "")
                        + " while waiting for " + what + "; last output:\n" + tail());
            long left = deadline - System.nanoTime();
            if (left <= 0)
                throw new AssertionError("[" + name + "] timed out after " + timeout.toSeconds() + " s waiting for "
                        + what + "; last output:\n" + tail());
            try {
                wait(Math.max(1, left / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted while waiting for " + what, e);
            }
        }
    }

    /** Waits for the end of the stream (the writers closed it); fails on timeout. */
    public synchronized void awaitEof(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!eof) {
            long left = deadline - System.nanoTime();
            if (left <= 0)
                throw new AssertionError("[" + name + "] still open after " + timeout.toSeconds() + " s; last output:\n"
                        + tail());
            try {
                wait(Math.max(1, left / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted", e);
            }
        }
    }

    /** Waits for the end of the stream, at most this long, without failing. */
    public synchronized void awaitEofQuietly(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!eof) {
            long left = deadline - System.nanoTime();
            if (left <= 0) return;
            try {
                wait(Math.max(1, left / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** Every line read so far (handed out or not). */
    public synchronized List<String> all() {
        return List.copyOf(lines);
    }

    /** Lines not handed out yet, which are then considered handed out. */
    public synchronized List<String> drain() {
        List<String> rest = List.copyOf(lines.subList(cursor, lines.size()));
        cursor = lines.size();
        return rest;
    }

    public synchronized String tail() {
        int from = Math.max(0, lines.size() - 60);
        StringBuilder sb = new StringBuilder();
        for (String l : lines.subList(from, lines.size())) sb.append("  | ").append(l).append('\n');
        if (lines.isEmpty()) sb.append("  (nothing)\n");
        return sb.toString();
    }
}
