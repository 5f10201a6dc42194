package cryo.testing;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The few OS operations the tests need and the JDK lacks: kill(2) with any signal, mkfifo, the effective
 * uid. Done with standard commands (sh's kill builtin, coreutils' mkfifo) and /proc, so the tests need no
 * native access of their own.
 */
public final class Os {
    private Os() {}

    public static final int SIGHUP = 1, SIGKILL = 9, SIGUSR1 = 10, SIGUSR2 = 12, SIGTERM = 15, SIGCONT = 18,
            SIGSTOP = 19;

    private static int exec(List<String> cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
            p.getOutputStream().close();
            if (!p.waitFor(Timeouts.EXIT.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(cmd + " did not finish");
            }
            return p.exitValue();
        } catch (IOException e) {
            throw new AssertionError("cannot run " + cmd + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** kill(pid, sig); true on success. */
    public static boolean kill(long pid, int sig) {
        return exec(List.of("sh", "-c", "kill -" + sig + " " + pid)) == 0;
    }

    public static void mkfifo(Path p) {
        if (exec(List.of("mkfifo", "-m", "600", p.toString())) != 0) throw new AssertionError("mkfifo " + p + " failed");
    }

    public static long geteuid() {
        return Procfs.statusField(ProcessHandle.current().pid(), "Uid").map(s -> Long.parseLong(s.split("\\s+")[1]))
                .orElse(-1L);
    }
}
