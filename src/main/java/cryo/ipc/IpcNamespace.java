package cryo.ipc;

import java.util.concurrent.Callable;

/**
 * Runs SysV IPC work inside the IPC namespace of a task (Namespace.IPC.run: a thread of its own that
 * enters it); msgget and the /proc/sys/kernel/*_next_id files then act in that namespace.
 */
public final class IpcNamespace {
    private IpcNamespace() {
    }

    /** True when pid lives in another IPC namespace than cryo. */
    public static boolean differs(int pid) throws java.io.IOException {
        return !of(pid).equals(java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/ns/ipc")).toString());
    }

    public static String of(int pid) throws java.io.IOException {
        return java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/" + pid + "/ns/ipc")).toString();
    }

    /** Runs work in the IPC namespace of pid (in cryo's own when pid is 0). */
    public static <T> T run(int pid, Callable<T> work) throws Exception {
        return pid == 0 ? work.call() : cryo.ns.Namespace.IPC.run(pid, work);
    }
}
