package cryo.tty;

import cryo.files.FdBroker;
import cryo.files.FileTable;
import cryo.files.OpenFileRecord;
import cryo.files.OpenFiles;
import cryo.image.Image;
import cryo.image.Refusal;
import cryo.remote.Tracee;
import cryo.sys.Nr;
import cryo.sys.SysException;
import cryo.sys.Tty;
import cryo.task.ProcStat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Sessions of the tree whose controlling terminal is the slave of a pty pair inside it, both halves.
 * Checkpoint: a session leader's /proc/PID/stat tty_nr (field 7) names the slave, tpgid (field 8) the foreground
 * group: one CTTY record. Restart: the leader takes the slave as its controlling terminal (TIOCSCTTY) right
 * after its setsid, before any child of its exists: a task gets its controlling terminal only by fork or as
 * the leader (signal->tty, copied in copy_signal(), set by tiocsctty()); then, once every group exists, the
 * leader makes the foreground group (TIOCSPGRP must come from a task whose controlling terminal it is). Both
 * calls go through a temporary fd of cryo's own slave description, passed by the fd broker.
 */
public final class ControllingTerminals {
    private ControllingTerminals() {
    }

    /**
     * Checkpoint, after every fd is met: a CTTY for each session leader whose terminal is a pty of the tree;
     * refusals for sessions whose terminal restart could not give back exactly.
     */
    public static void checkpoint(FileTable files, Map<Integer, ProcStat> live, Refusal.Collector refused) {
        Ptys ptys = files.kindState(Ptys.class, () -> null);
        if (ptys == null) return;
        for (var e : live.entrySet()) {
            int pid = e.getKey();
            ProcStat s = e.getValue();
            long ttyNr = s.field(7);
            Integer pty = ttyNr == 0 ? null : ptys.masterOf(ttyNr);
            if (s.sid() == pid && pty != null) {
                int fg = (int) s.field(8);
                boolean group = live.values().stream().anyMatch(x -> x.pgid() == fg && x.sid() == pid);
                if (!group) {
                    refused.add(new Refusal(pid, "leads a session whose controlling terminal, " + ptys.describe(pty)
                            + ", has foreground group " + fg + ", which is no group of the tree's: not supported"));
                } else {
                    ptys.add(new CttyRecord(pid, pty, fg));
                }
                continue;
            }
            ProcStat leader = live.get(s.sid());
            Integer leaders = leader == null || leader.field(7) == 0 ? null : ptys.masterOf(leader.field(7));
            if (pty != null && leader == null) {
                refused.add(new Refusal(pid, "has the slave of " + ptys.describe(pty) + " as controlling terminal, but the leader of its session "
                        + s.sid() + " is not in the tree: not supported (restart gives a controlling terminal through the session's leader)"));
            } else if (pty == null && leaders != null) {
                refused.add(new Refusal(pid, "has no controlling terminal, but its session's leader " + s.sid() + " has the slave of "
                        + ptys.describe(leaders) + ": not supported (restart would give it that terminal)"));
            }
        }
    }

    /** Restart, in the leader pid of a session right after its setsid: it takes its terminal back. */
    public static void acquire(Tracee leader, int pid, Image image, FdBroker broker, OpenFiles.Opener opener) throws SysException {
        CttyRecord c = image.pty().ctty(pid);
        if (c == null) return;
        ioctl(leader, broker, slave(opener, c), Tty.TIOCSCTTY, 0, "TIOCSCTTY");
    }

    /** Restart, once every process group exists: each terminal's foreground group, set by its session's leader. */
    public static void foreground(Image image, Map<Integer, Tracee> tasks, FdBroker broker, OpenFiles.Opener opener) throws SysException {
        for (CttyRecord c : image.pty().terminals()) {
            Tracee leader = tasks.get(c.sid());
            try (Arena a = Arena.ofConfined()) {
                MemorySegment pgrp = a.allocate(JAVA_INT);
                pgrp.set(JAVA_INT, 0, c.foreground());
                long at = leader.put(0, pgrp);
                ioctl(leader, broker, slave(opener, c), TIOCSPGRP, at, "TIOCSPGRP " + c.foreground());
            }
        }
    }

    private static final long TIOCSPGRP = 0x5410;

    private static int slave(OpenFiles.Opener opener, CttyRecord c) throws SysException {
        return ((PtyRestore) opener.restorer(OpenFileRecord.Kind.PTY_MASTER)).slave(c.pty());
    }

    private static void ioctl(Tracee t, FdBroker broker, int localFd, long request, long arg, String name) throws SysException {
        int fd = broker.pass(t, localFd);
        try {
            t.syscall("ioctl(" + fd + ", " + name + ")", Nr.IOCTL, fd, request, arg);
        } finally {
            t.syscall("close(" + fd + ")", Nr.CLOSE, fd);
        }
    }
}
