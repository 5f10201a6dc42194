package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

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

    /** The handles spawnSession needs besides FileActions'. */
    private static final class SessionActions {
        static final MethodHandle ADDDUP2 = Native.libc("posix_spawn_file_actions_adddup2",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        static final MethodHandle ADDOPEN = Native.libc("posix_spawn_file_actions_addopen",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        static final MethodHandle ATTR_INIT = Native.libc("posix_spawnattr_init", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle ATTR_SETFLAGS = Native.libc("posix_spawnattr_setflags",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_SHORT));
        static final MethodHandle SPAWN = Native.libc("posix_spawn",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    }

    private static final short POSIX_SPAWN_SETSID = 0x80;
    private static final int O_WRONLY = 1;

    /**
     * Starts path with argv and an empty environment in a session of its own (POSIX_SPAWN_SETSID: a signal to
     * cryo's process group or a hangup of its terminal does not reach it), stdin = fd in, stdout /dev/null,
     * stderr cryo's, no fd above 2. Returns the pid.
     */
    public static int spawnSession(String path, String[] argv, int in) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = Native.state();
            MemorySegment fa = a.allocate(256, 16), attr = a.allocate(512, 16);
            check((int) FileActions.INIT.invokeExact(st, fa), "posix_spawn_file_actions_init");
            try {
                check((int) SessionActions.ADDDUP2.invokeExact(st, fa, in, 0), "posix_spawn_file_actions_adddup2");
                check((int) SessionActions.ADDOPEN.invokeExact(st, fa, 1, a.allocateFrom("/dev/null"), O_WRONLY, 0), "posix_spawn_file_actions_addopen");
                check((int) FileActions.CLOSEFROM.invokeExact(st, fa, 3), "posix_spawn_file_actions_addclosefrom_np");
                check((int) SessionActions.ATTR_INIT.invokeExact(st, attr), "posix_spawnattr_init");
                check((int) SessionActions.ATTR_SETFLAGS.invokeExact(st, attr, POSIX_SPAWN_SETSID), "posix_spawnattr_setflags");
                MemorySegment pid = a.allocate(JAVA_INT);
                MemorySegment args = a.allocate(ADDRESS, argv.length + 1);
                for (int i = 0; i < argv.length; i++) args.setAtIndex(ADDRESS, i, a.allocateFrom(argv[i]));
                int r = (int) SessionActions.SPAWN.invokeExact(st, pid, a.allocateFrom(path), fa, attr, args, a.allocate(ADDRESS, 1));
                check(r, "posix_spawn(" + path + ")");
                return pid.get(JAVA_INT, 0);
            } finally {
                int ignored = (int) FileActions.DESTROY.invokeExact(st, fa);
            }
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    private static void check(int r, String call) throws SysException {
        if (r != 0) throw new SysException(call, r);
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
