package cryo.ipc;

import cryo.sys.Fd;
import cryo.sys.Proc;

import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;

/**
 * Runs SysV IPC work inside the IPC namespace of a task. setns(2) moves only the calling thread, so the
 * work runs on a platform thread of its own that enters the namespace first; msgget and the
 * /proc/sys/kernel/*_next_id files then act in that namespace.
 */
public final class IpcNamespace {
    private static final int CLONE_NEWIPC = 0x08000000;

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
        if (pid == 0) return work.call();
        FutureTask<T> task = new FutureTask<>(() -> {
            int fd = Fd.open("/proc/" + pid + "/ns/ipc", Fd.O_RDONLY);
            try {
                Proc.setns(fd, CLONE_NEWIPC);
            } finally {
                Fd.close(fd);
            }
            return work.call();
        });
        Thread t = Thread.ofPlatform().name("cryo-ipc-ns").start(task);
        try {
            return task.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception x) throw x;
            throw e;
        } finally {
            t.join();
        }
    }
}
