package cryo.task;

import cryo.image.ImageException;
import cryo.image.Tree;
import cryo.sys.Fd;
import cryo.sys.Proc;
import cryo.sys.SysException;
import cryo.sys.Tty;
import cryo.tty.JobModes;

import java.util.Collection;

/**
 * The terminal of a tree that was its terminal's foreground job. The restored tasks are in cryo restart's
 * session, so its controlling terminal is theirs; a job left in a background group of it is stopped by
 * SIGTTIN as soon as it reads it. So restart either makes the restored job's group the terminal's foreground
 * (cryo must be in the foreground itself, and stay to give it back: not -d), or refuses before anything is
 * created. A tree restarted where cryo has no controlling terminal has none either, and nothing can stop it.
 */
public final class Terminal {
    /** The terminal (cryo's fd) to hand to a restored group (group: its image pid until onHost). */
    public record Handover(int fd, int group, int own) {
        /** The group by its host pid (a container's group has another pid inside it). */
        public Handover onHost(java.util.function.IntUnaryOperator hostPid) {
            return new Handover(fd, hostPid.applyAsInt(group), own);
        }
    }

    private static final int SIGTSTP = 20, SIGTTIN = 21, SIGTTOU = 22;
    private static volatile Handover handed;

    private Terminal() {
    }

    /** The process's group was the foreground group of its controlling terminal (stat fields 7 tty_nr, 8 tpgid). */
    static boolean wasForeground(ProcStat s) {
        return s.field(7) != 0 && s.field(8) == s.pgid();
    }

    /**
     * Before anything is created: the handover the restart will make, or null when none is needed; refuses
     * when the restored job could only end up in the background of cryo's terminal.
     */
    public static Handover preflight(Tree tree, Collection<TaskRecord> tasks, java.util.function.IntPredicate stoppedJob, boolean detach)
            throws ImageException, SysException {
        Tree.Process root = tree.root(), job = null;
        for (TaskRecord t : tasks) {
            if (t.pid() == root.pid() && t.sessionLeaderGone()) return null;   // its own session: no terminal (GroupLeaders)
            // A root stopped by job control (^Z) gets the terminal too: it stops again at once and cryo with it, and fg gives it back.
            if (!t.ttyForeground() && !(t.pid() == root.pid() && stoppedJob.test(t.pid()))) continue;
            for (Tree.Process p : tree.processes()) if (p.pid() == t.pid() && p.sid() == root.sid()) job = p;
        }
        if (job == null) return null;
        int fd = Tty.openControlling();
        if (fd < 0) return null;
        int own = Tty.getpgrp(), pgid = job.pgid();
        // The root's group, unless a task of the tree leads it, is cryo restart's: the root is created in it.
        boolean cryos = pgid == root.pgid() && tree.processes().stream().noneMatch(p -> p.pid() == pgid);
        try {
            String why = null;
            if (Tty.foregroundGroup(fd) != own) {
                why = "cryo restart is not in the foreground of its terminal";
            } else if (detach && (!cryos || own == Proc.getpid())) {
                // cryo leads its group: it is a shell's job, and the shell takes the terminal back when it exits
                why = "cryo restart -d gives the terminal back to its shell when it exits";
            }
            if (why != null) {
                throw new ImageException("task " + job.pid() + " was its terminal's foreground job: " + why
                        + ", and a job in the background stops when it reads its terminal (SIGTTIN); run cryo restart in the foreground, without -d");
            }
        } catch (ImageException | SysException e) {
            Fd.close(fd);
            throw e;
        }
        if (cryos) {
            Fd.close(fd);
            return null;
        }
        return new Handover(fd, job.pgid(), own);
    }

    /** Just before the restored tasks run: their group gets the terminal; cryo is in the background from now. */
    public static void handOver(Handover h) throws SysException {
        if (h == null) return;
        try {
            JobModes.toJob(h.fd());   // the job's modes first: it may read as soon as it has the terminal
            Tty.setForegroundGroup(h.fd(), h.group());
        } catch (SysException e) {
            JobModes.toShell(h.fd());
            throw e;
        }
        handed = h;
    }

    /** A failed restart: the terminal back to cryo with its shell's modes if it was handed over; the fd goes. */
    public static void release(Handover h) {
        if (h != null && handed == h) takeBack();
        else if (h != null) Fd.close(h.fd());
        JobModes.forget();
    }

    /** cryo handed a terminal to a restored group: it waits for the root's stops too (jobStopped). */
    public static boolean handedOver() {
        return handed != null;
    }

    /**
     * The restored root stopped (^Z sent SIGTSTP to its group, or SIGTTIN stopped it in the background): cryo
     * does what a job-control shell's job does, since its shell sees only cryo. If the job had the terminal,
     * cryo takes it back for its own group and stops itself with the root's stop signal (SIGSTOP for any
     * other), so its shell sees its job stopped, and why, and takes the
     * terminal. When the shell continues cryo, cryo hands the terminal on if it has it (fg), and continues the
     * restored group either way (bg). A root stopped while cryo is in the foreground (fg of a running cryo
     * whose job then read the terminal) is given the terminal and continued at once.
     */
    public static void jobStopped(int signal) throws SysException {
        Handover h = handed;
        if (Tty.foregroundGroup(h.fd()) == h.own()) {
            JobModes.toJob(h.fd());
            Tty.setForegroundGroup(h.fd(), h.group());
        } else {
            if (Tty.foregroundGroup(h.fd()) == h.group()) {
                Tty.setForegroundGroup(h.fd(), h.own());
                JobModes.jobStopped(h.fd());   // its modes kept, the shell's back before cryo stops
            }
            Proc.stopSelf(signal == SIGTSTP || signal == SIGTTIN || signal == SIGTTOU ? signal : Proc.SIGSTOP);
            if (Tty.foregroundGroup(h.fd()) == h.own()) {
                JobModes.toJob(h.fd());
                Tty.setForegroundGroup(h.fd(), h.group());
            }
        }
        Proc.kill(-h.group(), Proc.SIGCONT);
    }

    /** After the restored root is gone: the terminal back to cryo's group, as it was before the restart. */
    public static void takeBack() {
        Handover h = handed;
        if (h == null) return;
        handed = null;
        try {
            Tty.setForegroundGroup(h.fd(), h.own());
        } catch (SysException e) {
            // the terminal was hung up or taken by its session leader meanwhile: nothing to give back
        } finally {
            JobModes.toShell(h.fd());
            JobModes.forget();
            Fd.close(h.fd());
        }
    }
}
