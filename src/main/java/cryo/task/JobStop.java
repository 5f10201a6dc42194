package cryo.task;

import cryo.image.Image;
import cryo.remote.Tracee;
import cryo.sys.Proc;
import cryo.sys.ProcFile;
import cryo.sys.SysException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.function.IntPredicate;
import java.util.function.IntUnaryOperator;

/**
 * Processes stopped by job control (state T: ^Z, kill -STOP, a background read or write of the terminal).
 * At checkpoint PTRACE_SEIZE of a task in a group stop reports PTRACE_EVENT_STOP with the signal that stopped
 * it (ptrace(2) "group-stop"), and PTRACE_DETACH puts it back into that stop without telling its parent
 * (kernel/ptrace.c __ptrace_unlink reinstates JOBCTL_STOP_PENDING, not JOBCTL_STOP_CONSUME): so a released
 * tree (--leave-running, a failed checkpoint) is stopped as before. At restart each such process gets its stop
 * signal queued before it is let go: it stops before it runs, its parent sees the stop (WUNTRACED) and SIGCONT
 * continues it.
 */
public final class JobStop {
    public static final int SIGSTOP = 19, SIGTSTP = 20, SIGTTIN = 21, SIGTTOU = 22;

    private JobStop() {
    }

    static boolean isStopSignal(int signal) {
        return signal >= SIGSTOP && signal <= SIGTTOU;
    }

    /**
     * The JOB_STOP record of a frozen process, or null when it was running. A thread reports the stop signal
     * when its process was stopped or stopping (group_stop_count), SIGTRAP otherwise: any one decides.
     */
    public static JobStopRecord checkpoint(int pid, List<Tracee> threads, ProcStat stat) {
        for (Tracee t : threads) {
            if (isStopSignal(t.firstStopSignal())) return new JobStopRecord(pid, t.firstStopSignal(), stat.field(7) != 0);
        }
        return null;
    }

    /** Image pids of the processes that were stopped jobs of a controlling terminal (Terminal.preflight). */
    public static IntPredicate terminalJobs(Image image) {
        return pid -> {
            Image.ProcessImage p = image.processes.get(pid);
            return p != null && p.jobStop != null && p.jobStop.terminal();
        };
    }

    /**
     * Queues each stopped process's stop signal while every task is still traced: it is taken as soon as the
     * task is detached, before any instruction of its own.
     */
    public static void queue(Image image, IntUnaryOperator hostPid) throws SysException, IOException {
        for (Image.ProcessImage p : image.processes.values()) {
            if (p.jobStop == null || p.entry.zombie()) continue;
            int pid = hostPid.applyAsInt(p.entry.pid());
            Proc.kill(pid, signalFor(p, pid));
        }
    }

    /**
     * The signal that stops the restored process as before: its own, unless that would not stop it. SIGTSTP,
     * SIGTTIN and SIGTTOU stop only at their default action, unblocked by some thread, and outside an orphaned
     * process group (kernel/signal.c get_signal() drops them there); SIGSTOP always stops.
     */
    private static int signalFor(Image.ProcessImage p, int hostPid) throws IOException {
        int signal = p.jobStop.signal();
        if (signal == SIGSTOP) return SIGSTOP;
        boolean dfl = p.task.sigactions()[4 * (signal - 1)] == TaskRecord.SIG_DFL;
        boolean takes = p.threads.stream().anyMatch(t -> (t.sigmask() & (1L << (signal - 1))) == 0);
        return dfl && takes && !orphaned(hostPid) ? signal : SIGSTOP;
    }

    /**
     * The process group of pid is orphaned (POSIX; kernel/exit.c will_become_orphaned_pgrp): no member has a
     * parent in another group of the same session (zombies, and members whose parent is init, do not count).
     */
    static boolean orphaned(int pid) throws IOException {
        long[] self = stat(pid);
        if (self == null) return false;
        try (var dir = Files.list(Path.of("/proc"))) {
            for (Path d : (Iterable<Path>) dir::iterator) {
                String name = d.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit)) continue;
                long[] member = stat(Integer.parseInt(name));
                if (member == null || member[1] != self[1] || member[0] == 1 || member[3] == 'Z') continue;
                long[] parent = stat((int) member[0]);
                if (parent != null && parent[1] != self[1] && parent[2] == self[2]) return false;
            }
        }
        return true;
    }

    /** {ppid, pgrp, session, state} of /proc/PID/stat (fields 4-6 and 3, after the command in parentheses), null if gone. */
    private static long[] stat(int pid) throws IOException {
        String s;
        try {
            s = ProcFile.read("/proc/" + pid + "/stat");
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().contains("No such process")) return null;
            throw e;
        }
        String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
        return new long[]{Long.parseLong(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3]), f[0].charAt(0)};
    }
}
