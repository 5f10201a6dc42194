package cryo.checkpoint;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import java.nio.file.Path;
import java.time.Instant;

/** src/test/c/churn.c running: the root's Proc and its members' pids (S, S's child S1, the exec'ing E). */
record ChurnFixture(Proc root, long s, long s1, long e) {
    /** Starts churn in mode "quiet" (nothing changes) or "churn" (everything does) and waits for READY. */
    static ChurnFixture start(Cleanup cleanup, Subreaper subreaper, Path dir, String mode) {
        Path exe = Fixtures.compile(dir, "churn", Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc p = cleanup.start("churn", new ProcessBuilder(exe.toString(), mode));
        String[] f = p.await("PIDS", l -> l.startsWith("PIDS ")).split(" ");
        if (Long.parseLong(f[1]) != p.pid()) throw new AssertionError("churn reported root " + f[1] + ", the JVM started " + p.pid());
        p.awaitReady();
        ChurnFixture c = new ChurnFixture(p, Long.parseLong(f[2]), Long.parseLong(f[3]), Long.parseLong(f[4]));
        // killed by pid at the end, and reaped at once as the subreaper's (PID 1 reaps orphans slowly)
        subreaper.foreign(cleanup, java.util.List.of(c.s, c.s1, c.e), t0, "churn member");
        return c;
    }
}
