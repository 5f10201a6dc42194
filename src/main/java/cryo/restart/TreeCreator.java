package cryo.restart;

import cryo.files.FdTables;
import cryo.image.Image;
import cryo.image.ImageException;
import cryo.image.Tree;
import cryo.ns.PidMap;
import cryo.remote.Scratch;
import cryo.remote.Tracee;
import cryo.sys.Errno;
import cryo.sys.Nr;
import cryo.sys.SysException;
import cryo.task.GroupLeaders;
import cryo.task.TaskState;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Creates the tasks of a restart, each with its old pid: clone3 with set_tid in its parent, which cryo traces,
 * so the child is auto-attached. In a container the pid is the one inside the new pid namespace (set_tid
 * names the innermost level; the host pid is chosen freely): clone3 then returns the child's pid in the
 * parent's namespace, and the host pid comes from the clone event (Tracee.lastChild). The maps of the restart
 * stay keyed by image pids; each Tracee carries its host tid, and `pids` maps one to the other.
 */
final class TreeCreator {
    /** What createTree does with each live process once it exists, before any child is forked from it. */
    interface Created {
        void accept(Tree.Process p, Tracee t) throws SysException, IOException, ImageException;
    }

    private final Image image;
    private final FdTables fdTables;
    private final GroupLeaders groupLeaders;
    /** Host pids of every task created so far, for the caller to kill on failure. */
    private final List<Integer> created;
    private final long hole, gadgetSize, scratchSize;
    /** In-namespace pid -> host pid of every task created (the same for a plain tree). */
    final PidMap pids;

    /** freshPidNs: the tree is created in a new pid namespace (under PidNamespaceInit), its pids inside. */
    TreeCreator(Image image, FdTables fdTables, GroupLeaders groupLeaders, List<Integer> created, long hole, long gadgetSize,
                boolean freshPidNs) {
        this.image = image;
        this.fdTables = fdTables;
        this.groupLeaders = groupLeaders;
        this.created = created;
        this.hole = hole;
        this.gadgetSize = gadgetSize;
        this.scratchSize = Scratch.SIZE;
        this.pids = image.namespaces == null && !freshPidNs ? PidMap.SAME : PidMap.container();
    }

    /**
     * Creates every process from its real parent, parents first: the root from rootParent with rootFlags
     * (the stub with CLONE_PARENT, so that cryo is its parent, and for a container the CLONE_NEW* flags of
     * its namespaces), the others by clone3 in their parent with their exit signal. A session leader calls
     * setsid() before its children exist, so they inherit the session; process groups are joined once every
     * leader exists (setpgid(2) needs the group in the caller's session). Zombies then exit with their
     * status, and the exit signal this sends their parent is taken away again. Each live process is handed
     * to `created` as soon as it exists, before any child of its is forked from it. stub: where a temporary
     * leader of the root's gone session comes from (GroupLeaders).
     */
    Map<Integer, Tracee> createTree(Tracee rootParent, long rootFlags, Tracee stub, Created created)
            throws SysException, ImageException, IOException {
        Map<Integer, Tracee> tasks = new LinkedHashMap<>();
        int root = image.tree.root().pid();
        GroupLeaders.Factory factory = this::createTask;
        for (Tree.Process p : image.tree.processes()) {
            Tracee parent = p.pid() == root ? rootParent : tasks.get(p.ppid());
            long flags = p.pid() == root ? rootFlags : fdTables.cloneFlags(p);
            Tracee sessionLeader = p.pid() != root ? groupLeaders.sessionLeaderFor(p, tasks, factory)
                    : (rootFlags & GroupLeaders.cloneParent()) != 0 ? groupLeaders.rootSessionLeader(stub, factory)
                    : groupLeaders.rootSessionLeaderUnder(rootParent, factory);   // --fresh-pid-ns: the init's
            if (sessionLeader != null) flags |= GroupLeaders.cloneParent();   // its exit signal is the leader's
            // A root created without CLONE_PARENT is its creator's child (the init of a fresh pid namespace's,
            // which waits for SIGCHLD).
            int exitSignal = sessionLeader != null ? 0 : p.pid() != root ? p.exitSignal()
                    : (rootFlags & GroupLeaders.cloneParent()) != 0 ? 0 : cryo.sys.Proc.SIGCHLD;
            Tracee t = factory.create(sessionLeader != null ? sessionLeader : parent, p.pid(), flags, exitSignal);
            if (p.sid() == p.pid()) t.syscall("setsid", Nr.SETSID);
            if (p.pid() == root) cryo.tty.SessionTerminal.attach(t);   // a root session leader's terminal, before its children
            tasks.put(p.pid(), t);
            if (!p.zombie()) created.accept(p, t);
        }
        for (Tree.Process p : image.tree.processes()) {
            if (p.pgid() == p.pid() && p.sid() != p.pid()) tasks.get(p.pid()).syscall("setpgid(0, 0)", Nr.SETPGID, 0, 0);
        }
        groupLeaders.makeGroups(tasks, factory);
        for (Tree.Process p : image.tree.processes()) {
            if (p.pgid() != p.pid() && (tasks.containsKey(p.pgid()) || groupLeaders.leads(p.pgid()))) {
                tasks.get(p.pid()).syscall("setpgid(0, " + p.pgid() + ")", Nr.SETPGID, 0, p.pgid());
            }
        }
        Map<Integer, Long> drain = new LinkedHashMap<>(groupLeaders.end(tasks));
        this.created.removeAll(groupLeaders.created());
        for (Tree.Process p : image.tree.processes()) {
            if (!p.zombie()) continue;
            Tracee z = tasks.get(p.pid());
            z.syscall("prctl(PR_SET_NAME)", Nr.PRCTL, 15, z.putString(0, p.comm()));
            TaskState.restoreZombieCredentials(z, p.zombieCreds());
            z.exitAs(p.waitStatus());
            if (p.exitSignal() != 0) drain.merge(p.ppid(), 1L << (p.exitSignal() - 1), (x, y) -> x | y);
        }
        for (var e : drain.entrySet()) drainSignals(tasks.get(e.getKey()), e.getValue());
        return tasks;
    }

    /**
     * clone3 with set_tid = {pid} in parent: the child gets pid in the innermost pid namespace (its own, with
     * CLONE_NEWPID), is auto-attached, and is made ready for remote calls through the gadget page.
     */
    Tracee createTask(Tracee parent, int pid, long flags, int exitSignal) throws SysException, ImageException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment args = a.allocate(88);
            args.set(JAVA_LONG, 0, flags);
            args.set(JAVA_LONG, 32, exitSignal);
            args.set(JAVA_LONG, 64, parent.scratch() + 128);   // set_tid
            args.set(JAVA_LONG, 72, 1);                        // set_tid_size
            parent.put(0, args);
            MemorySegment tid = a.allocate(8);
            tid.set(JAVA_INT, 0, pid);
            parent.put(128, tid);
            long r = parent.call(Nr.CLONE3, null, parent.scratch(), 88);
            if (r == -Errno.EEXIST) {
                throw new ImageException("pid " + pid + " is in use: the tree cannot get it back (cryo restart --fresh-pid-ns IMG restarts the tree in a new pid namespace)");
            }
            if (r < 0) throw new SysException("remote clone3(set_tid=" + pid + ") in task " + parent.tid, (int) -r);
            // The init of a new pid namespace is pid 1 inside it; its parent, outside, sees its host pid.
            boolean newPidNs = (flags & cryo.ns.Namespace.PID.cloneFlag) != 0;
            if (!newPidNs && r != pid) throw new SysException("remote clone3(set_tid=" + pid + ") in task " + parent.tid + " gave pid " + r, Errno.EINVAL);
            int host = (int) parent.lastChild();
            created.add(host);
            if (!pids.identity()) pids.put(host, pid);
            else if (host != pid) throw new SysException("remote clone3(set_tid=" + pid + ") in task " + parent.tid + " reported child " + host, Errno.EINVAL);
            Tracee t = Tracee.adopt(host, pid);
            t.useSyscallAt(hole);
            t.useScratch(hole + gadgetSize, scratchSize);
            return t;
        }
    }

    /** Dequeues the signals in mask that are pending in t (rt_sigtimedwait with a zero timeout). */
    private static void drainSignals(Tracee t, long mask) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment args = a.allocate(24);
            args.set(JAVA_LONG, 0, mask);       // sigset
            args.set(JAVA_LONG, 8, 0);          // timespec {0, 0}
            args.set(JAVA_LONG, 16, 0);
            long set = t.put(0, args);
            while (t.call(Nr.RT_SIGTIMEDWAIT, null, set, 0, set + 8, 8) > 0) {
                // one signal taken; look for more
            }
        }
    }
}
