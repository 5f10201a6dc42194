package cryo.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** Building and starting the test programs: the C fixture (src/test/c/fixture.c) and python3 scripts. */
public final class Fixtures {
    private Fixtures() {}

    public enum Build {
        PIE(List.of()), NO_PIE(List.of("-no-pie"));

        final List<String> flags;

        Build(List<String> flags) {
            this.flags = flags;
        }
    }

    public static Optional<Path> onPath(String tool) {
        String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
        for (String d : path.split(File.pathSeparator)) {
            Path p = Path.of(d, tool);
            if (Files.isExecutable(p)) return Optional.of(p);
        }
        return Optional.empty();
    }

    /** Skips the test (with the reason printed) unless the tests run as root, as cryo's restart needs. */
    public static void assumeRoot() {
        boolean root = Os.geteuid() == 0;
        if (!root) System.out.println("SKIPPED: cryo's tests need root (clone3 with set_tid needs CAP_SYS_ADMIN)");
        assumeTrue(root, "cryo's tests need root");
    }

    public static void assumeTool(String tool) {
        boolean ok = onPath(tool).isPresent();
        if (!ok) System.out.println("SKIPPED: " + tool + " is not installed");
        assumeTrue(ok, tool + " is not installed");
    }

    /** Compiles src/test/c/NAME.c into dir with gcc -O1 (dynamically linked) and returns the binary. */
    public static Path compile(Path dir, String name, Build build) {
        assumeTool("gcc");
        Path src = Cryo.root().resolve("src/test/c").resolve(name + ".c");
        Path exe = dir.resolve(name + (build == Build.NO_PIE ? "-nopie" : ""));
        List<String> cmd = new ArrayList<>(List.of("gcc", "-O1", "-Wall", "-o", exe.toString(), src.toString()));
        cmd.addAll(build.flags);
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            p.getOutputStream().close();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(Timeouts.COMPILE.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("gcc took too long: " + cmd);
            }
            if (p.exitValue() != 0)
                throw new AssertionError("gcc failed: " + cmd + "\n" + new String(out, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new AssertionError("cannot run gcc: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
        return exe;
    }

    public static Path fixture(Path dir, Build build) {
        return compile(dir, "fixture", build);
    }

    /**
     * Starts the C fixture ({@code read} or {@code sleep} mode) with its work directory, from the test JVM
     * (so the JVM reaps it), and waits for READY. Returns the running fixture.
     */
    public static Proc startFixture(Cleanup cleanup, Path exe, String mode, Path workdir) {
        try {
            Files.createDirectories(workdir);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        Proc p = cleanup.start("fixture", new ProcessBuilder(exe.toString(), mode, workdir.toString()));
        long reported = p.awaitReady();
        if (reported != p.pid())
            throw new AssertionError("fixture reported pid " + reported + " but the JVM started pid " + p.pid());
        return p;
    }

    /** Starts {@code sleep 100000} from the test JVM and waits until it is sleep (not the JDK's spawn helper). */
    public static Proc startSleep(Cleanup cleanup) {
        Proc p = cleanup.start("sleep", new ProcessBuilder("sleep", "100000"));
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (!Procfs.stat(p.pid()).map(st -> st.comm().equals("sleep")).orElse(false)) {
            if (System.nanoTime() > deadline) throw new AssertionError("sleep did not start");
            Procfs.sleep(java.time.Duration.ofMillis(10));
        }
        return p;
    }

    /** The python3 interpreter itself (not a wrapper script): /usr/bin/python3, else the one on PATH. */
    public static Path python() {
        Path usr = Path.of("/usr/bin/python3");
        if (Files.isExecutable(usr)) return usr;
        Optional<Path> onPath = onPath("python3");
        if (onPath.isEmpty()) System.out.println("SKIPPED: python3 is not installed");
        assumeTrue(onPath.isPresent(), "python3 is not installed");
        try {
            Process p = new ProcessBuilder(onPath.get().toString(), "-c", "import sys; print(sys.executable)").start();
            p.getOutputStream().close();
            String exe = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!p.waitFor(30, TimeUnit.SECONDS)) p.destroyForcibly();
            return exe.isEmpty() ? onPath.get() : Path.of(exe);
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
