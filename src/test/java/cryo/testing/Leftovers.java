package cryo.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * "Nothing left behind": a snapshot of the pids that exist, to find afterwards any new process in the test
 * JVM's session that is not a descendant of the JVM but an orphan (e.g. a stub or half-restored process that
 * a failed cryo command orphaned). Strays found are registered with {@link Cleanup} so they are killed by pid.
 */
public final class Leftovers {
    private final Set<Long> before;
    private final long session;
    private final Instant taken;

    private Leftovers(Set<Long> before, long session, Instant taken) {
        this.before = before;
        this.session = session;
        this.taken = taken;
    }

    public static Leftovers snapshot() {
        long self = ProcessHandle.current().pid();
        long sid = Procfs.stat(self).map(Procfs.Stat::session).orElse(-1L);
        return new Leftovers(pids(), sid, Instant.now());
    }

    private static Set<Long> pids() {
        Set<Long> s = new HashSet<>();
        try (var ds = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
            for (Path p : ds) s.add(Long.parseLong(p.getFileName().toString()));
        } catch (IOException e) {
            throw new AssertionError("cannot list /proc", e);
        }
        return s;
    }

    private static boolean descendsFromJvm(long pid) {
        long self = ProcessHandle.current().pid();
        long p = pid;
        for (int i = 0; i < 64 && p > 1; i++) {
            if (p == self) return true;
            p = Procfs.ppid(p);
        }
        return false;
    }

    /**
     * True if pid hangs from init through processes that are all new since the snapshot: what a failed
     * cryo command leaves (an orphan and its children). A new process under one that existed before (the
     * shell of someone working beside the tests, in the same session) is not the test's.
     */
    private boolean orphanedSinceSnapshot(long pid) {
        long p = pid;
        for (int i = 0; i < 64; i++) {
            long pp = Procfs.ppid(p);
            if (pp <= 1) return true;
            if (before.contains(pp)) return false;
            p = pp;
        }
        return false;
    }

    /** New processes in our session that are not descendants of the test JVM but orphans (see above). */
    public List<Procfs.Stat> strays() {
        List<Procfs.Stat> found = new ArrayList<>();
        for (long pid : pids()) {
            if (before.contains(pid)) continue;
            Optional<Procfs.Stat> s = Procfs.stat(pid);
            if (s.isEmpty() || s.get().isKernelThread() || s.get().session() != session) continue;
            // a dead orphan only waits for init to reap it (which it may do lazily): not a leftover
            if (s.get().state() == 'Z' || s.get().state() == 'X') continue;
            if (descendsFromJvm(pid) || !orphanedSinceSnapshot(pid)) continue;
            found.add(s.get());
        }
        return found;
    }

    /**
     * Fails if strays remain (after giving dying ones a few seconds to be reaped); registers them for
     * killing first.
     */
    public void assertNone(Cleanup cleanup, String after) {
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        List<Procfs.Stat> s = strays();
        while (!s.isEmpty() && System.nanoTime() < deadline) {
            Procfs.sleep(Duration.ofMillis(50));
            s = strays();
        }
        if (s.isEmpty()) return;
        for (Procfs.Stat st : s) cleanup.foreign(st.pid(), taken, "stray " + st.comm());
        StringBuilder sb = new StringBuilder("processes left behind after " + after + ":");
        for (Procfs.Stat st : s)
            sb.append("\n  pid ").append(st.pid()).append(" (").append(st.comm()).append(") state ").append(st.state())
                    .append(" ppid ").append(st.ppid());
        throw new AssertionError(sb.toString());
    }
}
