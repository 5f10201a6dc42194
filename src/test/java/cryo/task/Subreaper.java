package cryo.task;

import cryo.testing.Procfs;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.Collection;
import java.util.TreeSet;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Makes the test JVM a child subreaper (prctl PR_SET_CHILD_SUBREAPER) for the duration of a test, so that the
 * descendants of a killed tree are reparented to the JVM instead of to PID 1 — which here reaps orphans only
 * after many seconds — and can be reaped at once, by pid, with waitpid. Only zombies that are not processes the
 * JDK started are reaped: the JDK's own reaper waits for those by pid, and reaping one of them first would
 * steal its exit status. Callers therefore reap only pids whose JDK Process (if any) has already exited.
 *
 * <p>Register it before {@link cryo.testing.Cleanup} with a lower {@code @Order}, so that its afterEach runs
 * after Cleanup's (after-callbacks run in reverse order): it then reaps the zombies Cleanup's kills left
 * among the JVM's children and switches the subreaper off.
 *
 * <p>While it is on, an orphan becomes a descendant of the JVM, which hides it from
 * {@link cryo.testing.Leftovers}; call {@link #off()} before a check for leftovers.
 */
@SuppressWarnings("restricted")
public final class Subreaper implements BeforeEachCallback, AfterEachCallback {
    private static final int PR_SET_CHILD_SUBREAPER = 36;
    private static final int WNOHANG = 1;
    private static final MethodHandle PRCTL;
    private static final MethodHandle WAITPID;

    static {
        Linker linker = Linker.nativeLinker();
        SymbolLookup libc = linker.defaultLookup();
        PRCTL = linker.downcallHandle(libc.find("prctl").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                        ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG),
                Linker.Option.firstVariadicArg(1));
        WAITPID = linker.downcallHandle(libc.find("waitpid").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    }

    private boolean on;
    private final java.util.Set<Long> tracked = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private volatile Thread reaper;

    private static void prctl(long value) {
        int r;
        try {
            r = (int) PRCTL.invokeExact(PR_SET_CHILD_SUBREAPER, value, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw new AssertionError("prctl(PR_SET_CHILD_SUBREAPER) failed: " + t, t);
        }
        if (r != 0) throw new AssertionError("prctl(PR_SET_CHILD_SUBREAPER, " + value + ") returned " + r);
    }

    public synchronized void on() {
        prctl(1);
        on = true;
    }

    /** Switches the subreaper off (orphans go to PID 1 again); zombies adopted so far can still be reaped. */
    public synchronized void off() {
        if (on) prctl(0);
        on = false;
    }

    /**
     * Pids that a background thread reaps as soon as they are zombie children of the JVM. Never pass the pid
     * of a JDK-started process that has not exited yet (await its exit first).
     */
    public void track(Collection<Long> pids) {
        tracked.addAll(pids);
    }

    /** Registers pids with Cleanup (killed by pid after the test) and tracks them for reaping. */
    public void foreign(cryo.testing.Cleanup cleanup, Collection<Long> pids, java.time.Instant notBefore, String what) {
        for (long p : pids) cleanup.foreign(p, notBefore, what + " " + p);
        track(pids);
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        on();
        reaper = Thread.ofPlatform().daemon().name("subreaper").start(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                for (long p : tracked) reapIfAdoptedZombie(p);
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
    }

    @Override
    public void afterEach(ExtensionContext context) {
        Thread t = reaper;
        reaper = null;
        try {
            if (t != null) {
                t.interrupt();
                t.join(java.time.Duration.ofSeconds(5));
            }
            reap(tracked);
            reapZombieChildren();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            tracked.clear();
            off();
        }
    }

    /**
     * Reaps pid if it is a zombie child of the JVM (adopted, not started by the JDK). Returns true if it
     * reaped it.
     */
    public static boolean reapIfAdoptedZombie(long pid) {
        long self = ProcessHandle.current().pid();
        var st = Procfs.stat(pid);
        if (st.isEmpty() || st.get().state() != 'Z' || st.get().ppid() != self) return false;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment status = a.allocate(ValueLayout.JAVA_INT);
            int r = (int) WAITPID.invokeExact((int) pid, status, WNOHANG);
            return r == pid;
        } catch (Throwable t) {
            throw new AssertionError("waitpid(" + pid + ") failed: " + t, t);
        }
    }

    public static void reap(Collection<Long> pids) {
        for (long p : pids) reapIfAdoptedZombie(p);
    }

    /** Every zombie among the JVM's children (call only when no JDK Process of the test is still running). */
    public static void reapZombieChildren() {
        TreeSet<Long> kids = new TreeSet<>();
        long self = ProcessHandle.current().pid();
        for (long t : TreeFixtures.tids(self)) {
            try {
                String c = Procfs.read(Path.of("/proc", Long.toString(self), "task", Long.toString(t), "children")).trim();
                if (!c.isEmpty())
                    for (String x : c.split("\\s+")) kids.add(Long.parseLong(x));
            } catch (java.io.IOException e) {
                // thread gone
            }
        }
        reap(kids);
    }
}
