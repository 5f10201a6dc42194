package cryo.sys;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A test hook that holds a cryo command at a named moment until the test lets it go, so that a test can run
 * a second command against it exactly there (two checkpoints at once) without depending on timing.
 * CRYO_HOLD_AT=NAME@DIR: the first time NAME is reached, cryo writes its pid to DIR/held-NAME and waits until
 * DIR/go-NAME exists (at most 10 minutes). Off, it costs one field read.
 */
public final class HoldPoint {
    private static final String AT = System.getenv("CRYO_HOLD_AT");
    private static boolean held;

    private HoldPoint() {
    }

    /** Holds here when CRYO_HOLD_AT names this point (the first time only). */
    public static void reach(String name) {
        if (AT == null || !AT.startsWith(name + "@")) return;
        synchronized (HoldPoint.class) {
            if (held) return;
            held = true;
        }
        Path dir = Path.of(AT.substring(name.length() + 1));
        Path go = dir.resolve("go-" + name);
        try {
            Path tmp = dir.resolve("held-" + name + ".tmp");
            Files.writeString(tmp, Long.toString(ProcessHandle.current().pid()));
            Files.move(tmp, dir.resolve("held-" + name));
            long deadline = System.nanoTime() + 600_000_000_000L;
            while (!Files.exists(go) && System.nanoTime() < deadline) Thread.sleep(10);
        } catch (IOException | InterruptedException e) {
            // a hook that cannot hold lets the command go on
        }
    }
}
