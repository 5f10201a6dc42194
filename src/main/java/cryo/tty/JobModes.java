package cryo.tty;

import cryo.sys.Proc;
import cryo.sys.SysException;
import cryo.sys.Termios;

/**
 * The modes of cryo restart's terminal while it hands it to a restored job, as a job-control shell keeps them
 * for its jobs (bash's and ksh's tty state per job): cryo's own (its shell's) are saved before anything
 * touches the terminal; the job gets the modes it had at checkpoint (raw or canonical, echo, special
 * characters) just before it gets the terminal, and redraws on SIGWINCH; cryo puts its shell's back whenever
 * it gives the terminal back (the job stopped, exited, or the restart failed) and the job's again when the
 * job is continued in the foreground. Set with TCSANOW: a drain (TCSADRAIN) would wait for an emulator that
 * may not read. The window size is the terminal's own (its emulator's, now): it is never set from the image;
 * a job whose size changed learns the new one from the SIGWINCH.
 */
public final class JobModes {
    private static final int SIGWINCH = 28;
    /** cryo's terminal modes before the restart (its shell's), and the modes the job runs with. */
    private static volatile Termios shell, job;

    private JobModes() {
    }

    /** Preflight, before anything is changed: cryo's modes on its terminal fd, and the job's from the image. */
    public static void prepare(int fd, TerminalRecord image) throws SysException {
        if (image == null) return;
        shell = Termios.get(fd);
        job = image.termios();
    }

    /** The job's modes on the terminal, just before the job gets it. */
    public static void toJob(int fd) throws SysException {
        Termios j = job;
        if (j != null) j.set(fd, Termios.When.NOW);
    }

    /**
     * The restored job runs (cryo detached its tasks): it is sent SIGWINCH to redraw what the shell's lines
     * replaced on the screen, once its leader sleeps (waits for input) or after a second at most. A signal
     * that comes before a program blocks in read(2) interrupts nothing: its handler only sets a flag the
     * program looks at when its read returns, and a program would redraw at the next key only.
     */
    public static void redraw(int group) {
        if (job == null) return;
        for (int i = 0; i < 100; i++) {
            char state = state(group);
            if (state != 'R' && state != 't') break;
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        try {
            Proc.kill(-group, SIGWINCH);
        } catch (SysException gone) {
            // the group exited already: nothing to redraw
        }
    }

    /** The state letter of /proc/PID/stat, 'X' when the process is gone. */
    private static char state(int pid) {
        try {
            String s = cryo.sys.ProcFile.read("/proc/" + pid + "/stat");
            return s.charAt(s.lastIndexOf(')') + 2);
        } catch (java.io.IOException | RuntimeException gone) {
            return 'X';
        }
    }

    /** The job stopped: its modes are kept for its return, the shell's go back before cryo stops. */
    public static void jobStopped(int fd) {
        if (shell == null) return;
        try {
            job = Termios.get(fd);
        } catch (SysException hungUp) {
            // the terminal is gone: the job's modes stay as they were
        }
        toShell(fd);
    }

    /** The shell's modes back on the terminal; a hung-up terminal has none to take. */
    public static void toShell(int fd) {
        Termios s = shell;
        if (s == null) return;
        try {
            s.set(fd, Termios.When.NOW);
        } catch (SysException hungUp) {
            // nothing to give back
        }
    }

    /** After the restart: nothing more to keep. */
    public static void forget() {
        shell = null;
        job = null;
    }
}
