package cryo.image;

import java.util.List;

/**
 * TREE: every process of the checkpointed tree, parents before children, so restart can create each one
 * from its real parent.
 */
public record Tree(List<Process> processes) implements ImageRecord, HoldsPids {
    public static final int PID_MAX_LIMIT = 4 * 1024 * 1024;

    /**
     * One process: ids, the signal its parent gets when it dies, and for a zombie its wait status.
     * tids lists every thread, the leader (tid == pid) first. fdTable is the pid of the first process of the
     * tree that uses this one's fd table (clone(2) CLONE_FILES without CLONE_THREAD): pid itself unless it
     * shares the table of a process before it. zombieCreds: for a zombie (which has no TASK record), its
     * uids and gids (real, effective, saved, fs) then its groups, as /proc/PID/status shows them; empty
     * for a live process. hostPid: its pid on the host at checkpoint, for the record (a container's tasks
     * have other pids inside it; restart gives them new host pids); pid itself for a plain tree.
     */
    public record Process(int pid, int hostPid, int ppid, int pgid, int sid, int exitSignal, boolean zombie, int waitStatus,
                          int[] tids, String comm, int fdTable, int[] zombieCreds) {
        public boolean sharesFdTable() {
            return fdTable != pid;
        }

        /** Every pid renumbered but the host pid, which stays the checkpoint's. */
        Process withPids(java.util.function.IntUnaryOperator toImage) {
            return new Process(toImage.applyAsInt(pid), hostPid, toImage.applyAsInt(ppid), toImage.applyAsInt(pgid),
                    toImage.applyAsInt(sid), exitSignal, zombie, waitStatus, java.util.Arrays.stream(tids).map(toImage).toArray(),
                    comm, toImage.applyAsInt(fdTable), zombieCreds);
        }
    }

    public Tree {
        processes = List.copyOf(processes);
    }

    public Process root() {
        return processes.getFirst();
    }

    public Tree withPids(java.util.function.IntUnaryOperator toImage) {
        return new Tree(processes.stream().map(p -> p.withPids(toImage)).toList());
    }

    public RecordType type() {
        return RecordType.TREE;
    }

    public void encode(Encoder e) {
        e.u32(processes.size());
        for (Process p : processes) {
            e.u32(p.pid).u32(p.hostPid).u32(p.ppid).u32(p.pgid).u32(p.sid).u32(p.exitSignal).u32(p.zombie ? 1 : 0).u32(p.waitStatus)
                    .u32(p.tids.length);
            for (int t : p.tids) e.u32(t);
            e.str(p.comm);
            e.u32(p.fdTable);
            e.u32(p.zombieCreds.length);
            for (int c : p.zombieCreds) e.u32(c);
        }
    }

    /**
     * A zombie's status must be one a task can die with (the kernel series' valid_exit_code()): an exit
     * code 0-255 in bits 8-15, or a signal 1-64 in bits 0-6 with perhaps the core-dump bit.
     */
    private static void checkWaitStatus(Decoder d, String field, int status) throws ImageException {
        int sig = status & 0x7f;
        if (sig == 0) {
            if ((status & ~0xff00) != 0) throw d.error(field, "0x" + Integer.toHexString(status) + " is not an exit status (exit code " + (status >>> 8) + " above 255?)");
        } else if (sig > 64 || (status & ~0xff) != 0) {
            throw d.error(field, "0x" + Integer.toHexString(status) + " is not a death by signal (signal " + sig + ")");
        }
    }

    static Tree decode(Decoder d) throws ImageException {
        int n = d.count("count", 1, 32768, 12 * 4);
        Process[] ps = new Process[n];
        for (int i = 0; i < n; i++) {
            String f = "processes[" + i + "].";
            int pid = d.u32(f + "pid", 1, PID_MAX_LIMIT);
            int hostPid = d.u32(f + "host_pid", 1, PID_MAX_LIMIT);
            int ppid = d.u32(f + "ppid", 0, PID_MAX_LIMIT);
            int pgid = d.u32(f + "pgid", 0, PID_MAX_LIMIT);
            int sid = d.u32(f + "sid", 0, PID_MAX_LIMIT);
            int exitSignal = d.u32(f + "exit_signal", 0, 64);
            boolean zombie = d.u32(f + "zombie", 0, 1) == 1;
            int status = d.u32(f + "wait_status");
            if (zombie) checkWaitStatus(d, f + "wait_status", status);
            int nt = d.count(f + "threads", zombie ? 0 : 1, 32768, 4);
            int[] tids = new int[nt];
            for (int j = 0; j < nt; j++) tids[j] = d.u32(f + "tids[" + j + "]", 1, PID_MAX_LIMIT);
            if (nt > 0 && tids[0] != pid) throw d.error(f + "tids[0]", "is " + tids[0] + ", not the leader " + pid);
            String comm = d.str(f + "comm");
            if (comm.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 15) throw d.error(f + "comm", "is longer than 15 bytes");
            int fdTable = d.u32(f + "fd_table", 1, PID_MAX_LIMIT);
            int nc = d.count(f + "zombie_creds", 0, 8 + 65536, 4);
            if (zombie != (nc >= 8) || (nc > 0 && nc < 8)) {
                throw d.error(f + "zombie_creds", "has " + nc + " ids: a zombie has 8 and its groups, a live process none");
            }
            int[] creds = new int[nc];
            for (int j = 0; j < nc; j++) creds[j] = d.u32(f + "zombie_creds[" + j + "]");
            ps[i] = new Process(pid, hostPid, ppid, pgid, sid, exitSignal, zombie, status, tids, comm, fdTable, creds);
        }
        return new Tree(List.of(ps));
    }
}
