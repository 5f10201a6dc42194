package cryo.sys;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;

/**
 * Runs work on a platform thread of its own and waits for it: for calls whose effect is per thread
 * (setns(2) into a network, IPC or UTS namespace, unshare(2) of CLONE_FS or CLONE_FILES), so that cryo's
 * other threads keep their namespaces, cwd and fd table. The thread ends with the work.
 */
public final class OwnThread {
    private OwnThread() {
    }

    /** What the thread runs; it may throw X, which call() throws again in the caller. */
    public interface Work<T, X extends Exception> {
        T call() throws X;
    }

    /** work's result, or its exception; waits for the thread to end even if the caller is interrupted. */
    @SuppressWarnings("unchecked")
    public static <T, X extends Exception> T call(String name, Work<T, X> work) throws X {
        FutureTask<T> task = new FutureTask<>(work::call);
        Thread t = Thread.ofPlatform().name(name).start(task);
        boolean interrupted = false;
        while (true) {
            try {
                t.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
        try {
            return task.get();
        } catch (InterruptedException e) {
            throw new IllegalStateException("the thread has ended", e);   // cannot happen: the task is done
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException r) throw r;
            if (c instanceof Error err) throw err;
            throw (X) c;
        }
    }
}
