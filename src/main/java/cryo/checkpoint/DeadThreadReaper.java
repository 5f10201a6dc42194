package cryo.checkpoint;

import cryo.sys.SysException;
import cryo.sys.Wait;
import cryo.task.ProcStat;

import java.io.IOException;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.LockSupport;

/**
 * Reaps, from a thread of its own, the dead threads cryo traces while the freezing thread sits in
 * PTRACE_SEIZE. ptrace_attach() takes the process's cred_guard_mutex, which an execve holds while
 * de_thread() waits for the other threads to be released, and a traced thread is released only when its
 * tracer reaps it (kernel/exit.c exit_notify()): the exec would wait for cryo and cryo for the exec. Any
 * thread of the tracer may wait for a tracee (do_wait() looks at every thread's tracees without __WNOTHREAD);
 * only zombies are waited for here, so no stop report is taken from the freezing thread.
 */
final class DeadThreadReaper implements AutoCloseable {
    private final Thread thread;
    private volatile boolean closed;
    private volatile int pid;
    private volatile List<Integer> watched = List.of();
    private final Set<Integer> reaped = ConcurrentHashMap.newKeySet();

    DeadThreadReaper() {
        thread = Thread.ofPlatform().daemon().name("cryo-reaper").start(this::loop);
    }

    /** Starts watching the threads of process pid that cryo holds, while a seize is in flight. */
    void watch(int pid, List<Integer> tids) {
        this.pid = pid;
        this.watched = List.copyOf(tids);
        LockSupport.unpark(thread);
    }

    /** Stops watching; returns the tids reaped meanwhile. */
    Set<Integer> stop() {
        watched = List.of();
        Set<Integer> out = Set.copyOf(reaped);
        reaped.removeAll(out);
        return out;
    }

    private void loop() {
        while (!closed) {
            List<Integer> tids = watched;
            if (tids.isEmpty()) {
                LockSupport.park();
                continue;
            }
            for (int tid : tids) {
                try {
                    ProcStat s = ProcStat.readThread(pid, tid);
                    if (s != null && s.state == 'Z' && Wait.poll(tid) != null) reaped.add(tid);
                } catch (IOException | SysException | RuntimeException e) {
                    // not ours, or gone already: the freezing thread finds out itself
                }
            }
            LockSupport.parkNanos(1_000_000);
        }
    }

    @Override
    public void close() {
        closed = true;
        LockSupport.unpark(thread);
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
