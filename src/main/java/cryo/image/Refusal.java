package cryo.image;

/**
 * A tree that cryo will not checkpoint, found before anything is written: names the task and the
 * resource (the kernel series' ckpt_write_err()).
 */
public final class Refusal extends Exception {
    public Refusal(int pid, String what) {
        super("task " + pid + ": " + what);
    }

    /** A message that names its tasks itself. */
    public Refusal(String message) {
        super(message);
    }
}
