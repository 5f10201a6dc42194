package cryo.image;

import java.util.ArrayList;
import java.util.List;

/**
 * A tree that cryo will not checkpoint, found before anything is written: names the task and the
 * resource (the kernel series' ckpt_write_err()). One refusal may carry several reasons: checkpoint goes
 * on looking after the first one, so the user learns of every fd, mapping and task at once.
 */
public final class Refusal extends Exception {
    private final List<String> reasons;

    public Refusal(int pid, String what) {
        this("task " + pid + ": " + what);
    }

    /** A message that names its tasks itself. */
    public Refusal(String message) {
        super(message);
        this.reasons = List.of(message);
    }

    private Refusal(List<String> reasons) {
        super(String.join("\n", reasons));
        this.reasons = List.copyOf(reasons);
    }

    /** Every reason, one line each, in the order they were found. */
    public List<String> reasons() {
        return reasons;
    }

    /**
     * Collects refusals while a walk goes on past them (every fd of a task, every mapping, every task),
     * then throws them as one.
     */
    public static final class Collector {
        private final List<String> reasons = new ArrayList<>();

        public void add(Refusal r) {
            for (String s : r.reasons) if (!reasons.contains(s)) reasons.add(s);
        }

        public void add(int pid, String what) {
            add(new Refusal(pid, what));
        }

        public boolean isEmpty() {
            return reasons.isEmpty();
        }

        public void throwIfAny() throws Refusal {
            if (!reasons.isEmpty()) throw new Refusal(reasons);
        }
    }
}
