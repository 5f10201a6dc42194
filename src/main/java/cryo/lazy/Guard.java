package cryo.lazy;

import cryo.sys.Errno;
import cryo.sys.Proc;
import cryo.sys.Ptrace;
import cryo.sys.SysException;
import cryo.sys.Wait;
import cryo.sys.WaitStatus;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/**
 * Keeps every task of a lazily restored tree traced while its memory comes in, with PTRACE_O_EXITKILL: if the
 * process serving the pages dies, the kernel releases its userfaultfds and the missing pages would read as
 * zeros; instead the kernel kills every tracee with it (kernel/ptrace.c exit_ptrace). The tasks otherwise run
 * as if untraced: signals are passed on at signal-delivery stops, group-stops are left with PTRACE_LISTEN,
 * children are traced from birth (TRACEFORK, TRACEVFORK, TRACECLONE). All calls come from the thread that
 * made the Guard (ptrace binds a tracee to the thread that attached it).
 */
final class Guard {
    static final int OPTIONS = Ptrace.O_EXITKILL | Ptrace.O_TRACEFORK | Ptrace.O_TRACEVFORK | Ptrace.O_TRACECLONE;
    private static final int SIGTRAP = 5;

    private final Set<Integer> traced = new LinkedHashSet<>();
    /** Exit statuses this thread reaped meanwhile (the foreground root's, as its parent), by pid. */
    final Map<Integer, WaitStatus> exits = new HashMap<>();

    /** Takes over tasks this thread traces already, stopped (the restart's), children first: they run now. */
    void adoptStopped(List<Integer> tids) throws SysException {
        for (int tid : tids) {
            try {
                Ptrace.setOptions(tid, OPTIONS);
                Ptrace.cont(tid, 0);
                traced.add(tid);
            } catch (SysException e) {
                if (e.errno() != Errno.ESRCH) throw e;
            }
        }
    }

    /**
     * Seizes running tasks (no stop) and every thread and child they made before being seized, until no new
     * one shows up in /proc: a task seized with the options traces its later children itself.
     */
    void seize(List<Integer> tids) throws SysException {
        List<Integer> todo = new ArrayList<>(tids);
        while (!todo.isEmpty()) {
            for (int tid : todo) {
                try {
                    Ptrace.seize(tid, OPTIONS);
                    traced.add(tid);
                } catch (SysException e) {
                    // ESRCH: gone; EPERM: traced already (by us: from birth)
                    if (e.errno() == Errno.EPERM) traced.add(tid);
                    else if (e.errno() != Errno.ESRCH) throw e;
                }
            }
            todo.clear();
            for (int tid : List.copyOf(traced)) {
                for (int t : related(tid)) if (!traced.contains(t) && !todo.contains(t)) todo.add(t);
            }
        }
    }

    /** The threads of tid's process and the children of tid, from /proc. */
    private static List<Integer> related(int tid) {
        List<Integer> out = new ArrayList<>();
        try (var s = Files.list(Path.of("/proc/" + tid + "/task"))) {
            for (Path p : (Iterable<Path>) s::iterator) out.add(Integer.parseInt(p.getFileName().toString()));
        } catch (IOException | RuntimeException e) {
            return out;                 // gone
        }
        try {
            String children = Files.readString(Path.of("/proc/" + tid + "/task/" + tid + "/children")).trim();
            if (!children.isEmpty()) for (String c : children.split(" ")) out.add(Integer.parseInt(c));
        } catch (IOException | RuntimeException e) {
            // gone, or a thread that is not the leader
        }
        return out;
    }

    /** Serves the tracees' stops until done, then detaches from all; kills them all when failed says so. */
    void run(BooleanSupplier done, BooleanSupplier failed) throws SysException {
        long backoff = 20_000;
        while (true) {
            if (failed.getAsBoolean()) {
                killAll();
                return;
            }
            if (done.getAsBoolean()) {
                detachAll();
                return;
            }
            if (traced.isEmpty()) return;      // the whole tree is gone: nothing left to serve
            WaitStatus st = poll();
            if (st == null) {
                LockSupport.parkNanos(backoff);
                backoff = Math.min(backoff * 2, 2_000_000);
                continue;
            }
            backoff = 20_000;
            handle(st);
        }
    }

    private WaitStatus poll() throws SysException {
        try {
            return Wait.poll(-1);
        } catch (SysException e) {
            if (e.errno() == Errno.ECHILD) return null;
            throw e;
        }
    }

    private void handle(WaitStatus st) throws SysException {
        int pid = st.pid();
        if (st.gone()) {
            traced.remove(pid);
            exits.put(pid, st);
            return;
        }
        if (!st.stopped()) return;
        traced.add(pid);
        int event = st.event();
        try {
            if (event == Ptrace.EVENT_FORK || event == Ptrace.EVENT_VFORK || event == Ptrace.EVENT_CLONE) {
                traced.add((int) Ptrace.eventMsg(pid));
                Ptrace.cont(pid, 0);
            } else if (event == Ptrace.EVENT_STOP) {
                // SIGTRAP: a new child's first stop or a PTRACE_INTERRUPT; another signal: a group-stop
                if (st.stopSignal() == SIGTRAP) Ptrace.cont(pid, 0);
                else Ptrace.listen(pid);
            } else if (event != 0 || st.syscallStop()) {
                Ptrace.cont(pid, 0);
            } else {
                Ptrace.cont(pid, st.stopSignal());   // a signal-delivery stop: deliver it
            }
        } catch (SysException e) {
            if (e.errno() != Errno.ESRCH) throw e;
        }
    }

    /** Interrupts every tracee and detaches it at its next stop, delivering a signal it stopped for. */
    void detachAll() throws SysException {
        for (int tid : traced) {
            try {
                Ptrace.interrupt(tid);
            } catch (SysException e) {
                if (e.errno() != Errno.ESRCH) throw e;
            }
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!traced.isEmpty() && System.nanoTime() < deadline) {
            WaitStatus st = poll();
            if (st == null) {
                LockSupport.parkNanos(50_000);
                continue;
            }
            int pid = st.pid();
            if (st.gone()) {
                traced.remove(pid);
                exits.put(pid, st);
                continue;
            }
            if (!st.stopped()) continue;
            int event = st.event();
            int sig = 0;
            if (event == Ptrace.EVENT_FORK || event == Ptrace.EVENT_VFORK || event == Ptrace.EVENT_CLONE) {
                traced.add((int) Ptrace.eventMsg(pid));   // its first stop comes: detached then
            } else if (event == 0 && !st.syscallStop()) {
                sig = st.stopSignal();
            }
            try {
                Ptrace.detach(pid, sig);
            } catch (SysException e) {
                if (e.errno() != Errno.ESRCH) throw e;
            }
            traced.remove(pid);
        }
        if (!traced.isEmpty()) throw new SysException("ptrace(PTRACE_DETACH) of tasks " + traced + ": no stop within 10 s", Errno.EAGAIN);
    }

    /** SIGKILL to every tracee, then reaps what reports. */
    void killAll() {
        for (int tid : traced) {
            try {
                Proc.kill(tid, Proc.SIGKILL);
            } catch (SysException e) {
                // gone
            }
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!traced.isEmpty() && System.nanoTime() < deadline) {
            try {
                WaitStatus st = poll();
                if (st == null) {
                    LockSupport.parkNanos(100_000);
                    continue;
                }
                if (st.gone()) {
                    traced.remove(st.pid());
                    exits.put(st.pid(), st);
                } else if (st.stopped()) {
                    Ptrace.cont(st.pid(), 0);
                }
            } catch (SysException e) {
                return;
            }
        }
    }

    Set<Integer> traced() {
        return traced;
    }
}
