package cryo.testing;

import java.time.Duration;

/** Every wait in the tests is bounded by one of these (generous: they only matter when something hangs). */
public final class Timeouts {
    private Timeouts() {}

    /** One cryo command (JVM start-up included). */
    public static final Duration CRYO = Duration.ofSeconds(90);
    /** A line from a process that is running normally. */
    public static final Duration LINE = Duration.ofSeconds(30);
    /** A process to exit after it was told to (or killed). */
    public static final Duration EXIT = Duration.ofSeconds(30);
    /** Compiling a fixture. */
    public static final Duration COMPILE = Duration.ofSeconds(120);
}
