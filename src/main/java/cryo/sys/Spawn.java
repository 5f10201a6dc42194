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
    private static final MethodHandle SPAWN = Native.libc("posix_spawn",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    private static final MethodHandle FA_INIT = Native.libc("posix_spawn_file_actions_init",
            FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle FA_DUP2 = Native.libc("posix_spawn_file_actions_adddup2",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    private static final MethodHandle FA_CLOSEFROM = Native.libc("posix_spawn_file_actions_addclosefrom_np",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle FA_DESTROY = Native.libc("posix_spawn_file_actions_destroy",
            FunctionDescriptor.of(JAVA_INT, ADDRESS));

    private Spawn() {
    }

    /**
     * Starts path with argv and an empty environment, fd `from` duplicated onto `to`, or, when from is -1, with
     * no fd above 2;
     * returns the pid.
     */
    public static int spawn(String path, String[] argv, int from, int to) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = Native.state();
            MemorySegment fa = a.allocate(256, 16);
            MemorySegment pid = a.allocate(JAVA_INT);
            MemorySegment args = a.allocate(ADDRESS, argv.length + 1);
            for (int i = 0; i < argv.length; i++) args.setAtIndex(ADDRESS, i, a.allocateFrom(argv[i]));
            MemorySegment env = a.allocate(ADDRESS, 1);
            int r = (int) FA_INIT.invokeExact(st, fa);
            r = from < 0 ? 0 : (int) FA_DUP2.invokeExact(st, fa, from, to);
            if (r != 0) throw new SysException("posix_spawn_file_actions_adddup2(" + from + ", " + to + ")", r);
            // Without an fd to pass, the JVM's own fds must not leak into the child. (With one, path may be
            // a /proc/self/fd link that must stay open until exec: the restart closes leftovers itself.)
            r = from >= 0 ? 0 : (int) FA_CLOSEFROM.invokeExact(st, fa, 3);
            if (r != 0) throw new SysException("posix_spawn_file_actions_addclosefrom_np", r);
            r = (int) SPAWN.invokeExact(st, pid, a.allocateFrom(path), fa, MemorySegment.NULL, args, env);
            int ignored = (int) FA_DESTROY.invokeExact(st, fa);
            if (r != 0) throw new SysException("posix_spawn(" + path + ")", r);
            return pid.get(JAVA_INT, 0);
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }
}
