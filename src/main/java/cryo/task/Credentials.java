package cryo.task;

import cryo.image.ImageException;
import cryo.image.Refusal;
import cryo.remote.Tracee;
import cryo.sys.Nr;
import cryo.sys.Proc;
import cryo.sys.SysException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collection;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Credentials, both halves: real/effective/saved/fs uids and gids, supplementary groups, the five capability
 * sets, securebits, no_new_privs and the dumpable flag. Linux keeps credentials per thread; a process whose
 * threads differ is refused. A restored task starts with cryo's credentials (it is cloned from cryo's stub)
 * and drops to its own last, by remote calls in the task itself.
 */
public final class Credentials {
    public static final int INH = 0, PRM = 1, EFF = 2, BND = 3, AMB = 4;
    private static final String[] CAP_LINES = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
    /** Lines of /proc/PID/task/TID/status that must be the same in every thread of a process. */
    private static final String[] PER_THREAD = {"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"};
    private static final int PR_GET_DUMPABLE = 3, PR_SET_DUMPABLE = 4, PR_CAPBSET_DROP = 24, PR_GET_SECUREBITS = 27,
            PR_SET_SECUREBITS = 28, PR_SET_NO_NEW_PRIVS = 38, PR_CAP_AMBIENT = 47, PR_CAP_AMBIENT_RAISE = 2,
            PR_CAP_AMBIENT_CLEAR_ALL = 4;
    /** setresuid and friends leave the capability sets alone (capabilities(7), "The securebits flags"). */
    private static final int SECBIT_NO_SETUID_FIXUP = 1 << 2;
    private static final int LINUX_CAPABILITY_VERSION_3 = 0x20080522;

    private Credentials() {
    }

    // ---------------------------------------------------------------- checkpoint

    /** CapInh, CapPrm, CapEff, CapBnd, CapAmb of a status file. */
    public static long[] caps(ProcStat s) {
        long[] c = new long[5];
        for (int i = 0; i < 5; i++) c[i] = s.statusHex(CAP_LINES[i]);
        return c;
    }

    /** Refuses a process whose threads do not share one set of credentials, or that runs under seccomp. */
    static void checkThreads(int pid, ProcStat leader) throws Refusal, IOException {
        if (!leader.status("Seccomp").equals("0")) {
            throw new Refusal(pid, "runs under seccomp (mode " + leader.status("Seccomp") + "): not supported yet");
        }
        try (var dirs = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path d : (Iterable<Path>) dirs::iterator) {
                int tid = Integer.parseInt(d.getFileName().toString());
                ProcStat t = ProcStat.readThread(pid, tid);
                if (t == null || tid == pid) continue;
                for (String line : PER_THREAD) {
                    if (!t.status(line).equals(leader.status(line))) {
                        throw new Refusal(pid, "thread " + tid + " has other credentials than its leader (" + line + ": "
                                + t.status(line) + ", not " + leader.status(line) + "): not supported");
                    }
                }
            }
        }
    }

    /** prctl(PR_GET_SECUREBITS) in the stopped task. */
    static int securebits(Tracee t) throws SysException {
        return (int) t.syscall("prctl(PR_GET_SECUREBITS)", Nr.PRCTL, PR_GET_SECUREBITS, 0, 0, 0, 0);
    }

    /** prctl(PR_GET_DUMPABLE) in the stopped task: 0, 1, or 2 (suid_dumpable). */
    static int dumpable(Tracee t) throws SysException {
        return (int) t.syscall("prctl(PR_GET_DUMPABLE)", Nr.PRCTL, PR_GET_DUMPABLE, 0, 0, 0, 0);
    }

    /** A zombie's Uid, Gid and Groups lines as one array: 4 uids, 4 gids, the groups. */
    static int[] zombie(ProcStat s) {
        int[] u = s.statusInts("Uid"), g = s.statusInts("Gid"), groups = s.statusInts("Groups");
        int[] out = new int[8 + groups.length];
        System.arraycopy(u, 0, out, 0, 4);
        System.arraycopy(g, 0, out, 4, 4);
        System.arraycopy(groups, 0, out, 8, groups.length);
        return out;
    }

    // ---------------------------------------------------------------- restart

    /**
     * A zombie's ids, set in the fresh task just before it exits. Its capability sets are not saved: the
     * kernel's own setuid fixup drops them as it did for the original (a zombie can do nothing with them).
     */
    static void restoreZombie(Tracee t, int[] c) throws SysException {
        if (c[0] == 0 && c[1] == 0 && c[2] == 0 && c[3] == 0 && c[4] == 0 && c[5] == 0 && c[6] == 0 && c[7] == 0 && c.length == 8) return;
        try (Arena a = Arena.ofConfined()) {
            int n = c.length - 8;
            MemorySegment groups = a.allocate(4L * Math.max(1, n));
            MemorySegment.copy(c, 8, groups, JAVA_INT, 0, n);
            t.syscall("setgroups", Nr.SETGROUPS, n, t.put(0, groups));
            t.syscall("setresgid", Nr.SETRESGID, c[4], c[5], c[6]);
            t.syscall("setfsgid", Nr.SETFSGID, c[7]);
            t.syscall("setresuid", Nr.SETRESUID, c[0], c[1], c[2]);
            t.syscall("setfsuid", Nr.SETFSUID, c[3]);
        }
    }

    /**
     * What cryo cannot give: capabilities it does not hold itself (capset(2) only lowers the permitted and
     * bounding sets; the inheritable set may grow within the bounding set), and other ids without
     * CAP_SETUID/CAP_SETGID/CAP_SETPCAP.
     */
    static void preflight(Collection<TaskRecord> tasks) throws ImageException, IOException {
        ProcStat me = ProcStat.read(Proc.getpid());
        long[] mine = caps(me);
        for (TaskRecord t : tasks) {
            long[] want = t.caps();
            String lack = null;
            if ((want[PRM] & ~mine[PRM]) != 0) lack = "permitted " + Capabilities.names(want[PRM] & ~mine[PRM]);
            else if ((want[BND] & ~mine[BND]) != 0) lack = "bounding " + Capabilities.names(want[BND] & ~mine[BND]);
            else if ((want[INH] & ~(mine[INH] | mine[BND])) != 0) lack = "inheritable " + Capabilities.names(want[INH] & ~(mine[INH] | mine[BND]));
            if (lack != null) {
                throw new ImageException("task " + t.pid() + " had capabilities (" + lack + ") that cryo itself lacks: they cannot be given back");
            }
            boolean other = !Arrays.equals(t.uids(), me.statusInts("Uid")) || !Arrays.equals(t.gids(), me.statusInts("Gid"))
                    || !Arrays.equals(t.groups(), me.statusInts("Groups")) || t.securebits() != 0 || want[BND] != mine[BND]
                    || want[AMB] != 0 || want[INH] != mine[INH];
            for (int cap : new int[]{Capabilities.SETUID, Capabilities.SETGID, Capabilities.SETPCAP}) {
                if (other && !Capabilities.has(mine[EFF], cap)) {
                    throw new ImageException("task " + t.pid() + " has other credentials than cryo, which lacks " + Capabilities.name(cap) + " to give them back");
                }
            }
        }
    }

    /**
     * Gives the task the credentials of the image; it holds cryo's until then. The order matters: groups, the
     * inheritable and ambient sets and the bounding set while the task is still privileged; then the ids,
     * with SECBIT_NO_SETUID_FIXUP so that they do not drop capabilities on their own (the fs ids last, since
     * setres[ug]id resets them); then securebits and the final capability sets, which may drop CAP_SETPCAP.
     * The result is read back from /proc and must be exactly the image's.
     */
    static void restore(Tracee t, TaskRecord task) throws SysException, IOException, ImageException {
        ProcStat now = ProcStat.readThread(t.tid, t.tid);   // host ids: /proc/TID names a thread too
        long[] cur = caps(now), want = task.caps();
        int[] u = task.uids(), g = task.gids();
        int sb = Proc.securebits();   // the stub's, inherited from cryo
        try (Arena a = Arena.ofConfined()) {
            if (!Arrays.equals(now.statusInts("Groups"), task.groups())) {
                MemorySegment groups = a.allocate(4L * Math.max(1, task.groups().length));
                MemorySegment.copy(task.groups(), 0, groups, JAVA_INT, 0, task.groups().length);
                t.syscall("setgroups", Nr.SETGROUPS, task.groups().length, t.put(0, groups));
            }
            if (cur[INH] != want[INH]) {
                capset(t, cur[EFF], cur[PRM], want[INH], a);
                cur[INH] = want[INH];
            }
            if (cur[AMB] != want[AMB]) {
                if (cur[AMB] != 0) t.syscall("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", Nr.PRCTL, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
                for (int c = 0; c < 64; c++) {
                    if (Capabilities.has(want[AMB], c)) {
                        t.syscall("prctl(PR_CAP_AMBIENT_RAISE, " + Capabilities.name(c) + ")", Nr.PRCTL, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
                    }
                }
            }
            for (int c = 0; c < 64; c++) {
                if (Capabilities.has(cur[BND] & ~want[BND], c)) {
                    t.syscall("prctl(PR_CAPBSET_DROP, " + Capabilities.name(c) + ")", Nr.PRCTL, PR_CAPBSET_DROP, c, 0, 0, 0);
                }
            }
            if (!Arrays.equals(now.statusInts("Uid"), u) || !Arrays.equals(now.statusInts("Gid"), g)) {
                if ((sb & SECBIT_NO_SETUID_FIXUP) == 0) {
                    sb |= SECBIT_NO_SETUID_FIXUP;
                    t.syscall("prctl(PR_SET_SECUREBITS)", Nr.PRCTL, PR_SET_SECUREBITS, sb, 0, 0, 0);
                }
                t.syscall("setresgid", Nr.SETRESGID, g[0], g[1], g[2]);
                t.syscall("setfsgid", Nr.SETFSGID, g[3]);   // returns the old fsgid, never an error: checked below
                t.syscall("setresuid", Nr.SETRESUID, u[0], u[1], u[2]);
                t.syscall("setfsuid", Nr.SETFSUID, u[3]);
            }
            if (sb != task.securebits()) t.syscall("prctl(PR_SET_SECUREBITS)", Nr.PRCTL, PR_SET_SECUREBITS, task.securebits(), 0, 0, 0);
            if (cur[EFF] != want[EFF] || cur[PRM] != want[PRM] || cur[INH] != want[INH]) capset(t, want[EFF], want[PRM], want[INH], a);
            if (task.noNewPrivs()) t.syscall("prctl(PR_SET_NO_NEW_PRIVS)", Nr.PRCTL, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        }
        verify(t.tid, task);
    }

    /**
     * The dumpable flag of the process (per mm): any change of ids or a capability gained resets it to
     * fs.suid_dumpable (kernel/cred.c commit_creds()), so it is set after the last thread's credentials.
     * PR_SET_DUMPABLE takes only 0 and 1; a 2 comes back only from suid_dumpable.
     */
    static void restoreDumpable(Tracee t, TaskRecord task) throws SysException, ImageException {
        long now = t.syscall("prctl(PR_GET_DUMPABLE)", Nr.PRCTL, PR_GET_DUMPABLE, 0, 0, 0, 0);
        if (now == task.dumpable()) return;
        if (task.dumpable() > 1) {
            throw new ImageException("task " + task.pid() + " was dumpable=" + task.dumpable() + " (fs.suid_dumpable), this system gives " + now);
        }
        t.syscall("prctl(PR_SET_DUMPABLE)", Nr.PRCTL, PR_SET_DUMPABLE, task.dumpable(), 0, 0, 0);
    }

    private static void capset(Tracee t, long eff, long prm, long inh, Arena a) throws SysException {
        MemorySegment s = a.allocate(32);
        s.set(JAVA_INT, 0, LINUX_CAPABILITY_VERSION_3);
        s.set(JAVA_INT, 4, 0);
        // struct __user_cap_data_struct[2]: {effective, permitted, inheritable} of bits 0-31, then 32-63
        long[] sets = {eff, prm, inh};
        for (int half = 0; half < 2; half++) {
            for (int i = 0; i < 3; i++) s.set(JAVA_INT, 8 + 12L * half + 4L * i, (int) (sets[i] >>> (32 * half)));
        }
        long addr = t.put(0, s);
        t.syscall("capset", Nr.CAPSET, addr, addr + 8);
    }

    private static void verify(int tid, TaskRecord task) throws IOException, ImageException {
        ProcStat s = ProcStat.readThread(tid, tid);   // the host tid
        String diff = null;
        if (!Arrays.equals(s.statusInts("Uid"), task.uids())) diff = "Uid " + s.status("Uid") + ", not " + Arrays.toString(task.uids());
        else if (!Arrays.equals(s.statusInts("Gid"), task.gids())) diff = "Gid " + s.status("Gid") + ", not " + Arrays.toString(task.gids());
        else if (!Arrays.equals(s.statusInts("Groups"), task.groups())) diff = "Groups " + s.status("Groups") + ", not " + Arrays.toString(task.groups());
        else if (!Arrays.equals(caps(s), task.caps())) diff = "capabilities " + Arrays.toString(caps(s)) + ", not " + Arrays.toString(task.caps());
        else if (s.status("NoNewPrivs").equals("1") != task.noNewPrivs()) diff = "NoNewPrivs " + s.status("NoNewPrivs");
        if (diff != null) throw new ImageException("task " + task.pid() + " (thread " + tid + ") came back with " + diff);
    }
}
