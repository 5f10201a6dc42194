package cryo.ns;

import java.util.HashMap;
import java.util.Map;
import java.util.function.IntUnaryOperator;

/**
 * Host pids and the pids of the same tasks inside the container's pid namespace, both ways. cryo reads /proc
 * and drives ptrace with host pids; the image holds the in-namespace ones (ImageWriter.pids applies
 * this map to every record that names a task). A plain tree maps every pid to itself.
 */
public final class PidMap implements IntUnaryOperator {
    /** A tree in cryo's own pid namespace: every pid is the same on both sides. */
    public static final PidMap SAME = new PidMap(true);

    private final boolean same;
    private final Map<Integer, Integer> toNs = new HashMap<>(), toHost = new HashMap<>();

    private PidMap(boolean same) {
        this.same = same;
    }

    /** An empty map, filled with put() as tasks are read (checkpoint) or created (restart). */
    public static PidMap container() {
        return new PidMap(false);
    }

    public void put(int host, int ns) {
        if (same) throw new IllegalStateException("the identity pid map takes no entries");
        toNs.put(host, ns);
        toHost.put(ns, host);
    }

    /** The in-namespace pid of host pid `host`; 0 for a task the namespace cannot see (what getsid(2) then gives). */
    public int ns(int host) {
        return same ? host : toNs.getOrDefault(host, 0);
    }

    /** The host pid of the task with in-namespace pid `ns`. */
    public int host(int ns) {
        if (same) return ns;
        Integer h = toHost.get(ns);
        if (h == null) throw new IllegalStateException("pid " + ns + " of the container has no task on the host");
        return h;
    }

    @Override
    public int applyAsInt(int host) {
        return ns(host);
    }

    public boolean identity() {
        return same;
    }
}
