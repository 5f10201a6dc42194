package cryo.task;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;
import cryo.image.Tree;

import java.util.List;

/**
 * TASK: process-wide state of one live process (the kernel series' ckpt_hdr_task plus its signal and
 * credential records). sigactions holds 64 entries of {handler, flags, restorer, mask}; rlimits 16 pairs of
 * {soft, hard}; itimers ITIMER_REAL/VIRTUAL/PROF as {interval sec, usec, value sec, usec}. uids and gids are
 * {real, effective, saved, fs}; caps the sets {inheritable, permitted, effective, bounding, ambient}
 * (Credentials); dumpable is PR_GET_DUMPABLE's value; ttyForeground: the process's group was the foreground
 * group of its controlling terminal (Terminal); childSubreaper: PR_SET_CHILD_SUBREAPER was set;
 * sessionLeaderGone: no task had the id of the process's session any more, nor of its group (GroupLeaders.ownsGoneSession: the root of such a
 * tree, a daemon, gets its own session and group back at restart instead of cryo restart's).
 */
public record TaskRecord(int pid, String comm, int umask, int personality, int pdeathSignal, String cwd,
                         int[] uids, int[] gids, int[] groups, long[] rlimits, long[] sigactions,
                         List<byte[]> sharedPending, long[] itimers, long[] caps, int securebits, boolean noNewPrivs,
                         int dumpable, boolean ttyForeground, boolean childSubreaper,
                         boolean sessionLeaderGone) implements ImageRecord, cryo.image.HoldsPids {
    public static final int NSIG = 64, RLIM_NLIMITS = 16;
    private static final int FLAG_NO_NEW_PRIVS = 1, FLAG_TTY_FOREGROUND = 2, FLAG_CHILD_SUBREAPER = 4, FLAG_SESSION_LEADER_GONE = 8;
    static final long SIG_DFL = 0, SIG_IGN = 1;

    public TaskRecord withPids(java.util.function.IntUnaryOperator toImage) {
        return new TaskRecord(toImage.applyAsInt(pid), comm, umask, personality, pdeathSignal, cwd, uids, gids, groups, rlimits,
                sigactions, sharedPending, itimers, caps, securebits, noNewPrivs, dumpable, ttyForeground, childSubreaper,
                sessionLeaderGone);
    }

    /** This record with another shared pending queue (cryo.timers keeps a POSIX timer's own signal with the timer). */
    public TaskRecord withSharedPending(List<byte[]> pending) {
        return new TaskRecord(pid, comm, umask, personality, pdeathSignal, cwd, uids, gids, groups, rlimits,
                sigactions, pending, itimers, caps, securebits, noNewPrivs, dumpable, ttyForeground, childSubreaper,
                sessionLeaderGone);
    }

    public RecordType type() {
        return RecordType.TASK;
    }

    public void encode(Encoder e) {
        e.u32(pid).u32(umask).u32(personality).u32(pdeathSignal).str(comm).str(cwd);
        for (int u : uids) e.u32(u);
        for (int g : gids) e.u32(g);
        e.u32(groups.length);
        for (int g : groups) e.u32(g);
        e.longs(rlimits).longs(sigactions).blobs(sharedPending).longs(itimers);
        e.longs(caps).u32(securebits).u32((noNewPrivs ? FLAG_NO_NEW_PRIVS : 0) | (ttyForeground ? FLAG_TTY_FOREGROUND : 0)
                | (childSubreaper ? FLAG_CHILD_SUBREAPER : 0) | (sessionLeaderGone ? FLAG_SESSION_LEADER_GONE : 0)).u32(dumpable);
    }

    public static TaskRecord decode(Decoder d) throws ImageException {
        int pid = d.u32("pid", 1, Tree.PID_MAX_LIMIT);
        int umask = d.u32("umask", 0, 0777);
        int personality = d.u32("personality");
        int pdeath = d.u32("pdeath_signal", 0, NSIG);
        String comm = d.str("comm");
        if (comm.getBytes().length > 15) throw d.error("comm", "is longer than 15 bytes");
        String cwd = d.str("cwd");
        if (!cwd.startsWith("/")) throw d.error("cwd", "is not an absolute path: " + cwd);
        int[] uids = new int[4], gids = new int[4];
        for (int i = 0; i < 4; i++) uids[i] = d.u32("uids[" + i + "]");
        for (int i = 0; i < 4; i++) gids[i] = d.u32("gids[" + i + "]");
        int ng = d.u32("groups.length", 0, 65536);
        int[] groups = new int[ng];
        for (int i = 0; i < ng; i++) groups[i] = d.u32("groups[" + i + "]");
        long[] rlimits = d.longs("rlimits", 2 * RLIM_NLIMITS);
        if (rlimits.length != 2 * RLIM_NLIMITS) throw d.error("rlimits", "has " + rlimits.length / 2 + " limits, not " + RLIM_NLIMITS);
        for (int i = 0; i < RLIM_NLIMITS; i++) {
            if (Long.compareUnsigned(rlimits[2 * i], rlimits[2 * i + 1]) > 0) {
                throw d.error("rlimits[" + i + "]", "has soft limit above hard limit");
            }
        }
        long[] sigactions = d.longs("sigactions", 4 * NSIG);
        if (sigactions.length != 4 * NSIG) throw d.error("sigactions", "has " + sigactions.length / 4 + " entries, not " + NSIG);
        for (int i = 0; i < NSIG; i++) {
            long h = sigactions[4 * i];
            if (h != SIG_DFL && h != SIG_IGN && !userAddress(h)) {
                throw d.error("sigactions[" + (i + 1) + "].handler", "0x" + Long.toHexString(h) + " is not a user-space address");
            }
        }
        List<byte[]> pending = d.blobs("shared_pending", 4096, 128);
        checkSiginfos(d, "shared_pending", pending);
        long[] itimers = d.longs("itimers", 12);
        if (itimers.length != 12) throw d.error("itimers", "has " + itimers.length + " words, not 12");
        long[] caps = d.longs("caps", 5);
        if (caps.length != 5) throw d.error("caps", "has " + caps.length + " sets, not 5");
        if ((caps[Credentials.EFF] & ~caps[Credentials.PRM]) != 0) throw d.error("caps", "effective set is not within the permitted set");
        if ((caps[Credentials.AMB] & ~(caps[Credentials.PRM] & caps[Credentials.INH])) != 0) {
            throw d.error("caps", "ambient set is not within the permitted and inheritable sets");
        }
        int securebits = d.u32("securebits", 0, 0xff);
        int flags = d.u32("flags", 0, FLAG_NO_NEW_PRIVS | FLAG_TTY_FOREGROUND | FLAG_CHILD_SUBREAPER
                | FLAG_SESSION_LEADER_GONE);
        int dumpable = d.u32("dumpable", 0, 2);
        return new TaskRecord(pid, comm, umask, personality, pdeath, cwd, uids, gids, groups, rlimits, sigactions, pending, itimers,
                caps, securebits, (flags & FLAG_NO_NEW_PRIVS) != 0, dumpable, (flags & FLAG_TTY_FOREGROUND) != 0,
                (flags & FLAG_CHILD_SUBREAPER) != 0, (flags & FLAG_SESSION_LEADER_GONE) != 0);
    }

    static boolean userAddress(long a) {
        return a > 0 && a < 0x7ffffffff000L;
    }

    static void checkSiginfos(Decoder d, String field, List<byte[]> infos) throws ImageException {
        for (int i = 0; i < infos.size(); i++) {
            byte[] si = infos.get(i);
            if (si.length != 128) throw d.error(field + "[" + i + "]", "is " + si.length + " bytes, a siginfo is 128");
            int signo = (si[0] & 0xff) | (si[1] & 0xff) << 8 | (si[2] & 0xff) << 16 | si[3] << 24;
            if (signo < 1 || signo > NSIG) throw d.error(field + "[" + i + "].si_signo", "is " + signo + ", not a signal");
        }
    }
}
