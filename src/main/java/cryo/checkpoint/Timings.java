package cryo.checkpoint;

/**
 * Phase timings on stderr when CRYO_TIMING is set: "cryo: timing <phase> <ms> ms". Formatted by hand:
 * java.util.Formatter costs ~20 ms of class loading and locale set-up in a fresh JVM, which would show
 * in the very figures it prints.
 */
public final class Timings {
    private static final boolean ON = System.getenv("CRYO_TIMING") != null;
    private static long last = System.nanoTime();

    private Timings() {
    }

    public static boolean on() {
        return ON;
    }

    /** Starts the clock of the first phase (otherwise it starts when this class is first used). */
    public static void begin() {
        last = System.nanoTime();
    }

    public static void note(String line) {
        if (!ON) return;
        cryo.memory.Progress.erase();
        System.err.println(new StringBuilder("cryo: ").append(line));
    }

    public static void mark(String phase) {
        if (!ON) return;
        long now = System.nanoTime();
        span(phase, now - last);
        last = now;
    }

    /**
     * Prints "timing <name> <ms> ms" for a span measured by the caller. StringBuilder rather than string
     * concatenation: each concatenation site costs its own bootstrap the first time it runs.
     */
    public static void span(String name, long nanos) {
        if (!ON) return;
        long tenths = (nanos + 50_000) / 100_000;
        cryo.memory.Progress.erase();
        System.err.println(new StringBuilder("cryo: timing ").append(name).append(' ').append(tenths / 10).append('.')
                .append(tenths % 10).append(" ms"));
    }
}
