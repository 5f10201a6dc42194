package cryo.janitor;

import cryo.sys.Fd;
import cryo.sys.Spawn;
import cryo.sys.SysException;
import cryo.sys.Wait;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The watcher of a journal: a /bin/sh in a session of its own (a signal to cryo's group or its terminal's
 * hangup does not reach it) blocked in `read` on a pipe whose only writer is cryo (close-on-exec: no task,
 * stub or helper inherits it). cryo writes "done" when its journal has no live entry; if cryo dies first the
 * read sees end of file, and the shell execs cryo's JVM again as `cryo __sweep PID-STARTTIME`, which undoes
 * the journal at once (Sweep). Costs a fork and exec of sh (about a millisecond) and nothing else while cryo
 * lives; only a killed cryo pays for the JVM.
 */
final class Janitor {
    static final String COMMAND = "__sweep";
    private static final String SCRIPT = "read -r line; [ \"$line\" = done ] || exec \"$@\"";

    private final Owner owner;
    private int fd;

    private Janitor(Owner owner, int fd) {
        this.owner = owner;
        this.fd = fd;
    }

    Owner owner() {
        return owner;
    }

    static Janitor start(Owner cryo) throws SysException, IOException {
        List<String> argv = new ArrayList<>(List.of("/bin/sh", "-c", SCRIPT, "cryo-janitor"));
        argv.addAll(relaunch());
        argv.add(COMMAND);
        argv.add(cryo.name());
        int[] pipe = Fd.pipe();
        int pid;
        try {
            pid = Spawn.spawnSession("/bin/sh", argv.toArray(String[]::new), pipe[0]);
        } catch (SysException e) {
            Fd.close(pipe[1]);
            throw e;
        } finally {
            Fd.close(pipe[0]);
        }
        Owner o = Owner.of(pid);
        return new Janitor(o != null ? o : new Owner(pid, -1), pipe[1]);
    }

    /** This JVM's command line up to cryo's main class: how bin/cryo started it (module), or the class path (tests). */
    private static List<String> relaunch() throws IOException {
        List<String> argv = new ArrayList<>(Arrays.asList(new String(Files.readAllBytes(Path.of("/proc/self/cmdline")), StandardCharsets.UTF_8).split("\0")));
        argv.set(0, Files.readSymbolicLink(Path.of("/proc/self/exe")).toString());
        int main = argv.indexOf("cryo/cryo.cli.Main");
        if (main >= 0) return argv.subList(0, main + 1);
        return List.of(argv.getFirst(), "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), "cryo.cli.Main");
    }

    /** Tells the janitor that nothing is left to undo, and reaps it (it exits at once). */
    void dismiss() {
        try (Arena a = Arena.ofConfined()) {
            Fd.writeFully(fd, a.allocateFrom("done\n").asSlice(0, 5), "pipe to the janitor");
        } catch (SysException e) {
            // gone already: it swept a journal that was about to go anyway
        }
        Fd.close(fd);
        fd = -1;
        try {
            Wait.waitFor(owner.pid(), 2_000);
        } catch (SysException e) {
            // reaped or not ours to reap: init takes it
        }
    }
}
