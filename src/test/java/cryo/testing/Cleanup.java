package cryo.testing;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Registry of everything a test started; after each test (pass or fail) it kills each of them by pid:
 * first processes that are not children of the JVM (restored processes, strays), each only if it still is
 * the process that was registered (its start time), then the JVM's own children (whose exit the JVM
 * reaps), then it removes extra directories. Never kills by name.
 *
 * <pre>{@code @RegisterExtension final Cleanup cleanup = new Cleanup();}</pre>
 */
public final class Cleanup implements AfterEachCallback {
    private record Foreign(long pid, Instant notBefore, String what) {}

    private final List<Foreign> foreign = new ArrayList<>();
    private final List<Proc> procs = new ArrayList<>();
    private final List<Process> processes = new ArrayList<>();
    private final List<Path> dirs = new ArrayList<>();

    /** Starts a process, reads its stdout/stderr as lines (unless redirected), and registers it. */
    public Proc start(String name, ProcessBuilder pb) {
        return start(name, pb, true);
    }

    /** Like {@link #start}, but leaves stdout to the caller as a byte stream ({@link Proc#rawStdout()}). */
    public Proc startRawStdout(String name, ProcessBuilder pb) {
        return start(name, pb, false);
    }

    private Proc start(String name, ProcessBuilder pb, boolean stdoutLines) {
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new AssertionError("cannot start " + pb.command() + ": " + e, e);
        }
        synchronized (this) {
            processes.add(p);
        }
        boolean outPiped = pb.redirectOutput() == ProcessBuilder.Redirect.PIPE;
        boolean errPiped = pb.redirectError() == ProcessBuilder.Redirect.PIPE && !pb.redirectErrorStream();
        boolean inPiped = pb.redirectInput() == ProcessBuilder.Redirect.PIPE;
        Proc proc = new Proc(name, p, outPiped && stdoutLines ? p.getInputStream() : null,
                errPiped ? p.getErrorStream() : null, inPiped ? p.getOutputStream() : null);
        synchronized (this) {
            procs.add(proc);
        }
        return proc;
    }

    /** Registers a JVM child started elsewhere. */
    public synchronized void process(Process p) {
        processes.add(p);
    }

    /**
     * Registers a process that is not a child of the JVM (e.g. restored by cryo, whose parent is the
     * {@code cryo restart} process): it is killed by pid at cleanup if it is alive and started no earlier
     * than {@code notBefore} (so a recycled pid of an older process is never hit).
     */
    public synchronized void foreign(long pid, Instant notBefore, String what) {
        foreign.add(new Foreign(pid, notBefore.minusSeconds(2), what));
    }

    /** Registers a directory (outside any JUnit @TempDir) to delete recursively. */
    public synchronized void deleteLater(Path dir) {
        dirs.add(dir);
    }

    @Override
    public void afterEach(ExtensionContext context) {
        List<Foreign> fs;
        List<Process> ps;
        List<Path> ds;
        synchronized (this) {
            fs = new ArrayList<>(foreign);
            ps = new ArrayList<>(processes);
            ds = new ArrayList<>(dirs);
            foreign.clear();
            processes.clear();
            procs.clear();
            dirs.clear();
        }
        List<ProcessHandle> killed = new ArrayList<>();
        for (Foreign f : fs) {
            ProcessHandle.of(f.pid()).ifPresent(h -> {
                Instant start = h.info().startInstant().orElse(null);
                if (h.isAlive() && start != null && !start.isBefore(f.notBefore())) {
                    System.out.println("[cleanup] killing " + f.what() + " pid " + f.pid());
                    h.destroyForcibly();
                    killed.add(h);
                }
            });
        }
        for (int i = ps.size() - 1; i >= 0; i--) {
            Process p = ps.get(i);
            if (p.isAlive()) {
                System.out.println("[cleanup] killing " + p.info().command().orElse("?") + " pid " + p.pid());
                p.destroyForcibly();
            }
        }
        for (Process p : ps) {
            try {
                if (!p.waitFor(Timeouts.EXIT.toMillis(), TimeUnit.MILLISECONDS))
                    System.out.println("[cleanup] pid " + p.pid() + " did not exit after SIGKILL");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (ProcessHandle h : killed) {
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (h.isAlive() && System.nanoTime() < deadline) Procfs.sleep(Duration.ofMillis(20));
        }
        for (Path d : ds) deleteRecursively(d);
    }

    public static void deleteRecursively(Path d) {
        if (!Files.exists(d)) return;
        try {
            Files.walkFileTree(d, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.deleteIfExists(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                    Files.deleteIfExists(dir);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            System.out.println("[cleanup] cannot delete " + d + ": " + e);
        }
    }
}
