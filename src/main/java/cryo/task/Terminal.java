package cryo.task;

/** The controlling terminal of a tree and its foreground job. */
public final class Terminal {
    private Terminal() {
    }

    /** The process's group was the foreground group of its controlling terminal (stat fields 7 tty_nr, 8 tpgid). */
    static boolean wasForeground(ProcStat s) {
        return s.field(7) != 0 && s.field(8) == s.pgid();
    }
}
