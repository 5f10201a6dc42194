package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * posix_spawn(3), for processes cryo will trace: the JDK's ProcessBuilder reaps its children from a
 * thread of its own, which would steal their ptrace stops.
 */
public final class Spawn {
    private static final int F_SETFD = 2, FD_CLOEXEC = 1;

    private Spawn() {
    }

    private static final class Handles {
        static final MethodHandle SPAWN = Native.libc("posix_spawn",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    }

    /** Links posix_spawn's handle now (see Proc.linkInBackground). */
    static void link() {
        MethodHandle h = Handles.SPAWN;
    }

    /** The file-action handles, linked only by spawnClean (each handle costs start-up time). */
    private static final class FileActions {
        static final MethodHandle INIT = Native.libc("posix_spawn_file_actions_init",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle CLOSEFROM = Native.libc("posix_spawn_file_actions_addclosefrom_np",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        static final MethodHandle DESTROY = Native.libc("posix_spawn_file_actions_destroy",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /**
     * Starts path with argv and an empty environment. The child gets the fds in `inherit` at the same numbers
     * (cryo's fds are close-on-exec; these lose the flag for the spawn only), and every fd of the JVM that is
     * not close-on-exec: a caller that traces the child closes those itself. Returns the pid.
     */
    public static int spawn(String path, String[] argv, int... inherit) throws SysException {
        for (int fd : inherit) Native.check(Native.raw(Nr.FCNTL, fd, F_SETFD, 0), "fcntl(" + fd + ", F_SETFD, 0)");
        try (Arena a = Arena.ofConfined()) {
            return spawn(a, path, argv, MemorySegment.NULL);
        } finally {
            for (int fd : inherit) Native.raw(Nr.FCNTL, fd, F_SETFD, FD_CLOEXEC);
        }
    }

    /** Starts path with argv, an empty environment and no fd above 2. */
    public static int spawnClean(String path, String[] argv) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = Native.state();
            MemorySegment fa = a.allocate(256, 16);
            int r = (int) FileActions.INIT.invokeExact(st, fa);
            if (r != 0) throw new SysException("posix_spawn_file_actions_init", r);
            try {
                r = (int) FileActions.CLOSEFROM.invokeExact(st, fa, 3);
                if (r != 0) throw new SysException("posix_spawn_file_actions_addclosefrom_np", r);
                return spawn(a, path, argv, fa);
            } finally {
                int ignored = (int) FileActions.DESTROY.invokeExact(st, fa);
            }
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    private static int spawn(Arena a, String path, String[] argv, MemorySegment fileActions) throws SysException {
        MemorySegment pid = a.allocate(JAVA_INT);
        MemorySegment args = a.allocate(ADDRESS, argv.length + 1);
        for (int i = 0; i < argv.length; i++) args.setAtIndex(ADDRESS, i, a.allocateFrom(argv[i]));
        MemorySegment env = a.allocate(ADDRESS, 1);
        int r;
        try {
            r = (int) Handles.SPAWN.invokeExact(Native.state(), pid, a.allocateFrom(path), fileActions, MemorySegment.NULL, args, env);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        if (r != 0) throw new SysException("posix_spawn(" + path + ")", r);
        return pid.get(JAVA_INT, 0);
    }
}
