package cryo.memory;

import cryo.sys.SysException;
import cryo.sys.Termios;

import java.io.PrintStream;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The progress line of `cryo checkpoint` and `cryo restart` on a terminal: once the command has run for a
 * second, one line on stderr — page bytes done of the total, the rate, the time left — redrawn in place
 * (carriage return, then erase to the end of the line) at most five times a second, and erased when the
 * last page is in or the command ends (also on failure). Nothing when stderr is not a terminal. The page
 * paths feed it once per batch (done), from any thread; it draws from whichever thread is due (the last batch
 * too, then erases).
 *
 * A restart erases the line as soon as the last page is in, before the restored tree may take the
 * terminal: nothing is written there afterwards.
 */
public final class Progress {
    /** CRYO_PROGRESS_DELAY (milliseconds, a test hook) overrides the second before the line first shows. */
    private static final long DELAY = delayNanos();
    private static final long EVERY = 200_000_000L;
    private static final AtomicLong DONE = new AtomicLong();
    private static final Object LOCK = new Object();
    /** null: no line wanted (not started, finished, or stderr is not a terminal). */
    private static volatile String verb;
    private static volatile long lastDraw;
    private static long started, rateFrom, total;
    private static boolean shown, checkedTerminal;

    private Progress() {
    }

    private static long delayNanos() {
        String env = System.getenv("CRYO_PROGRESS_DELAY");
        if (env != null && env.matches("[0-9]{1,6}")) return Long.parseLong(env) * 1_000_000L;
        return 1_000_000_000L;
    }

    /** The command starts (its name is what the line says it does): the line may show a second from now. */
    public static void start(String what) {
        synchronized (LOCK) {
            started = System.nanoTime();
            verb = what;
        }
    }

    /** bytes more pages are to be moved (a checkpoint or restart says so before its page phase). */
    public static void expect(long bytes) {
        synchronized (LOCK) {
            if (total == 0) rateFrom = System.nanoTime();
            total += bytes;
        }
    }

    /** bytes more pages have been moved: redraws the line if it is due, erases it when all are in. */
    public static void done(long bytes) {
        if (verb == null) return;
        long d = DONE.addAndGet(bytes);
        long now = System.nanoTime();
        boolean last = d >= total, due = now - started >= DELAY && now - lastDraw >= EVERY;
        if (!last && !due) return;
        synchronized (LOCK) {
            if (verb == null) return;
            if (due && now - lastDraw >= EVERY && terminal()) {
                lastDraw = now;
                draw(d, now);
            }
            if (last) finish();
        }
    }

    /** Whether stderr is a terminal, asked once (only a command that runs long enough asks). */
    private static boolean terminal() {
        if (!checkedTerminal) {
            checkedTerminal = true;
            if (!isTerminal(2)) verb = null;
        }
        return verb != null;
    }

    /** Erases the line if it is shown, and shows none any more. */
    public static void finish() {
        synchronized (LOCK) {
            verb = null;
            erase();
        }
    }

    /** Erases the line if it is shown, before another line goes to stderr; the next batch draws it again. */
    public static void erase() {
        synchronized (LOCK) {
            if (!shown) return;
            PrintStream err = System.err;
            err.print("\r\033[K");
            err.flush();
            shown = false;
        }
    }

    private static void draw(long d, long now) {
        double seconds = Math.max(1e-3, (now - rateFrom) / 1e9);
        double rate = d / seconds;                           // bytes per second
        StringBuilder b = new StringBuilder("\rcryo: ").append(verb).append(' ').append(d >> 20).append(" of ")
                .append(total >> 20).append(" MiB, ");
        tenths(b, rate / 1e8).append(" GB/s, ");
        tenths(b, Math.max(0, total - d) / Math.max(rate, 1) * 10).append(" s left\033[K");
        PrintStream err = System.err;
        err.print(b);
        err.flush();
        shown = true;
    }

    /** x/10 with one decimal (formatted by hand: see cryo.checkpoint.Timings). */
    private static StringBuilder tenths(StringBuilder b, double x) {
        long t = Math.round(x);
        return b.append(t / 10).append('.').append(t % 10);
    }

    private static boolean isTerminal(int fd) {
        try {
            Termios.get(fd);
            return true;
        } catch (SysException e) {
            return false;
        }
    }
}
