package cryo.container;

import cryo.remote.Tracee;
import cryo.sys.Errno;
import cryo.sys.Nr;
import cryo.sys.SysException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The container's execve(2), run in its init by remote syscalls, so that the command is looked up in the
 * container's own file system. argv and envp are laid out in the init's scratch area: the pointer arrays, then
 * the strings; the path tried comes after them.
 */
final class Exec {
    /** The PATH execvp(3) uses when there is none (glibc's default, with the sbin directories root wants). */
    private static final String DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    private static final int PATH_MAX = 4096;

    private final List<String> argv;
    private final List<String> envp;
    private final String path;
    private final byte[] strings;
    private final long pointersSize;

    Exec(List<String> argv, Map<String, String> environment) {
        this.argv = argv;
        this.envp = new ArrayList<>();
        environment.forEach((k, v) -> envp.add(k + "=" + v));
        this.path = environment.getOrDefault("PATH", DEFAULT_PATH);
        var b = new java.io.ByteArrayOutputStream();
        for (String s : argv) b.writeBytes(cString(s));
        for (String s : envp) b.writeBytes(cString(s));
        this.strings = b.toByteArray();
        this.pointersSize = 8L * (argv.size() + 1 + envp.size() + 1);
    }

    /** Bytes of scratch the exec needs: arrays, strings and one path. */
    long scratchSize() {
        return (pointersSize + strings.length + PATH_MAX + 8 + 4095) & ~4095L;
    }

    private static byte[] cString(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return java.util.Arrays.copyOf(b, b.length + 1);
    }

    /**
     * Replaces the init's image with the command: tries each candidate path as execvp(3) does (a name with a
     * slash as it is, else each PATH directory, an empty one meaning the cwd), going on after ENOENT, ENOTDIR
     * and EACCES. Returns once the execve succeeded, the task stopped at its exit.
     */
    void run(Tracee t) throws SysException, ExecFailure {
        long base = t.scratch();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment blob = a.allocate(pointersSize + strings.length, 8);
            long at = base + pointersSize;
            int slot = 0;
            for (String s : argv) {
                blob.setAtIndex(JAVA_LONG, slot++, at);
                at += s.getBytes(StandardCharsets.UTF_8).length + 1;
            }
            blob.setAtIndex(JAVA_LONG, slot++, 0);
            for (String s : envp) {
                blob.setAtIndex(JAVA_LONG, slot++, at);
                at += s.getBytes(StandardCharsets.UTF_8).length + 1;
            }
            blob.setAtIndex(JAVA_LONG, slot, 0);
            MemorySegment.copy(strings, 0, blob, JAVA_BYTE, pointersSize, strings.length);
            t.put(0, blob);
        }
        long argvAddr = base, envpAddr = base + 8L * (argv.size() + 1), pathOffset = pointersSize + strings.length;
        String cmd = argv.getFirst();
        List<String> candidates = new ArrayList<>();
        if (cmd.contains("/")) {
            candidates.add(cmd);
        } else {
            for (String dir : path.split(":", -1)) candidates.add(dir.isEmpty() ? cmd : dir + (dir.endsWith("/") ? "" : "/") + cmd);
        }
        boolean denied = false;
        for (String c : candidates) {
            if (cString(c).length > PATH_MAX) continue;
            long r = t.call(Nr.EXECVE, null, t.putString(pathOffset, c), argvAddr, envpAddr);
            if (r == 0) return;
            int errno = (int) -r;
            if (errno == Errno.EACCES) {
                denied = true;
            } else if (errno != Errno.ENOENT && errno != Errno.ENOTDIR) {
                throw new ExecFailure("run: cannot execute " + c + ": " + Errno.describe(errno), 126);
            }
        }
        if (denied) throw new ExecFailure("run: cannot execute " + cmd + ": " + Errno.describe(Errno.EACCES), 126);
        throw new ExecFailure(cmd.contains("/") ? "run: " + cmd + ": no such file"
                : "run: " + cmd + ": command not found in PATH", 127);
    }
}
