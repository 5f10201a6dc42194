package cryo.checkpoint;

/** Phase timings on stderr when CRYO_TIMING is set: "cryo: timing <phase> <ms> ms". */
public final class Timings {
    private static final boolean ON = System.getenv("CRYO_TIMING") != null;
    private static long last = System.nanoTime();

    private Timings() {
    }

    public static void note(String line) {
        if (ON) System.err.println("cryo: " + line);
    }

    public static void mark(String phase) {
        if (!ON) return;
        long now = System.nanoTime();
        System.err.printf("cryo: timing %s %.1f ms%n", phase, (now - last) / 1e6);
        last = now;
    }
}
