package cryo.task;

import cryo.image.ImageException;
import cryo.sys.Proc;
import cryo.sys.ProcFile;
import cryo.sys.SysException;

import java.io.IOException;
import java.util.Collection;

/**
 * Resource limits, both halves. They are read from /proc/PID/limits, which anyone may read: prlimit64(2) on
 * a task of another user needs CAP_SYS_RESOURCE, which a container's root often lacks. A restored task is
 * still root's when cryo sets its limits with prlimit64 (credentials drop last), so only raising a hard limit
 * above cryo's own needs CAP_SYS_RESOURCE: that is checked before anything is created.
 */
public final class Rlimits {
    public static final long RLIM_INFINITY = -1L;
    private static final String[] NAMES = {"RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE",
            "RLIMIT_RSS", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
            "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME"};
    private static final int RLIMIT_NOFILE = 7;

    private Rlimits() {
    }

    /**
     * {soft, hard} of every resource, in resource order: the rows of /proc/PID/limits (fs/proc/base.c
     * proc_pid_limits(): a 25-column name, then the raw soft and hard values or "unlimited").
     */
    public static long[] read(int pid) throws IOException {
        String[] lines = ProcFile.read("/proc/" + pid + "/limits").split("\n");
        long[] out = new long[2 * TaskRecord.RLIM_NLIMITS];
        if (lines.length < TaskRecord.RLIM_NLIMITS + 1) throw new IOException("/proc/" + pid + "/limits has " + (lines.length - 1) + " limits, not " + TaskRecord.RLIM_NLIMITS);
        for (int r = 0; r < TaskRecord.RLIM_NLIMITS; r++) {
            String[] f = lines[r + 1].substring(Math.min(26, lines[r + 1].length())).trim().split("\\s+");
            if (f.length < 2) throw new IOException("/proc/" + pid + "/limits: cannot read line '" + lines[r + 1] + "'");
            out[2 * r] = value(f[0]);
            out[2 * r + 1] = value(f[1]);
        }
        return out;
    }

    private static long value(String s) {
        return s.equals("unlimited") ? RLIM_INFINITY : Long.parseUnsignedLong(s);
    }

    public static String name(int resource) {
        return NAMES[resource];
    }

    /** Hard limits the restart could not set: above cryo's own without CAP_SYS_RESOURCE, or nofile above fs.nr_open. */
    static void preflight(Collection<TaskRecord> tasks) throws ImageException, IOException, SysException {
        long[] mine = read(Proc.getpid());
        boolean mayRaise = Capabilities.has(Credentials.caps(ProcStat.read(Proc.getpid()))[Credentials.EFF], Capabilities.SYS_RESOURCE);
        long nrOpen = Long.parseLong(ProcFile.read("/proc/sys/fs/nr_open").strip());
        for (TaskRecord t : tasks) {
            long[] want = t.rlimits();
            for (int r = 0; r < TaskRecord.RLIM_NLIMITS; r++) {
                long hard = want[2 * r + 1];
                if (r == RLIMIT_NOFILE && Long.compareUnsigned(hard, nrOpen) > 0) {
                    throw new ImageException("task " + t.pid() + ": RLIMIT_NOFILE hard limit " + show(hard) + " is above this system's fs.nr_open " + nrOpen);
                }
                if (!mayRaise && Long.compareUnsigned(hard, mine[2 * r + 1]) > 0) {
                    throw new ImageException("task " + t.pid() + ": " + NAMES[r] + " hard limit " + show(hard) + " is above cryo's own ("
                            + show(mine[2 * r + 1]) + "), and raising it needs CAP_SYS_RESOURCE, which cryo lacks");
                }
            }
        }
    }

    /** Sets the limits of a task that still has cryo's credentials, from cryo (prlimit64 on it). */
    static void restore(int pid, long[] rlimits) throws SysException {
        for (int r = 0; r < TaskRecord.RLIM_NLIMITS; r++) Proc.setRlimit(pid, r, rlimits[2 * r], rlimits[2 * r + 1]);
    }

    static String show(long v) {
        return v == RLIM_INFINITY ? "unlimited" : Long.toUnsignedString(v);
    }
}
