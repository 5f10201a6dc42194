package cryo.task;

import cryo.image.ImageException;
import cryo.image.Refusal;
import cryo.image.Tree;
import cryo.remote.Tracee;
import cryo.sys.Nr;
import cryo.sys.Proc;
import cryo.sys.SysException;
import cryo.sys.Wait;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Process groups and sessions whose leader is gone (it exited and was reaped): the group or session lives on
 * as long as it has members, but no task has its id. Restart creates a temporary leader with that pid, as
 * CRIU does: for a session, a child of the members' parent that calls setsid() and then creates them with
 * CLONE_PARENT, so that they are its session's but their parent's children; for a group, a child of one
 * member that calls setpgid(0, 0) so that the members can join. Once the groups are made, the temporary
 * leaders exit and their parent reaps them. A leader that is a zombie of the tree is restored as a zombie,
 * after its members joined its group.
 * <p>
 * The root's own session and group are cryo restart's (a shell's job comes back as a job of the shell that
 * restarts it), unless the root's session leader was gone at checkpoint (a daemon that forked twice, or whose
 * shell exited: its session lost its terminal with its leader): then the root gets its old session and group
 * back, with a temporary session leader created by the stub with CLONE_PARENT, which creates the root with
 * CLONE_PARENT too, so that cryo is the parent of both and reaps the leader.
 */
public final class GroupLeaders {
    /** Creates a task of the restart (clone3 with set_tid in parent), ready for remote calls. */
    public interface Factory {
        Tracee create(Tracee parent, int pid, long flags, int exitSignal) throws SysException, ImageException;
    }

    private static final long CLONE_PARENT = 0x8000;

    /** Gone session id -> the parent that created its first members, and their exit signal. */
    private record Entry(int parent, int exitSignal) {
    }

    private final Map<Integer, Entry> sessions = new LinkedHashMap<>();
    private final Map<Integer, Integer> groups = new LinkedHashMap<>();   // gone group -> a member
    private final Map<Integer, Tracee> leaders = new LinkedHashMap<>();
    private final Map<Integer, Integer> parentOf = new HashMap<>();
    private final Map<Integer, Tree.Process> byPid = new HashMap<>();
    /** The root's gone session, recreated by a temporary leader that cryo reaps; 0 when the root takes cryo's. */
    private final int rootSession;

    /**
     * The gone sessions and groups of a tree; the root's own are cryo restart's and need no leader, unless
     * rootTask says its session leader was gone at checkpoint.
     */
    public GroupLeaders(Tree tree, TaskRecord rootTask) {
        Tree.Process root = tree.root();
        for (Tree.Process p : tree.processes()) byPid.put(p.pid(), p);
        // cryo restart in that very session (its other members live on, so its id cannot be taken again):
        // the root is created in it, as cryo's.
        // (A container's root whose session is outside it has sid 0, what it saw: it takes cryo's.)
        boolean ownIds = root.sid() != 0 && rootTask != null && rootTask.sessionLeaderGone() && !byPid.containsKey(root.sid())
                && Proc.getsid() != root.sid();
        rootSession = ownIds ? root.sid() : 0;
        for (Tree.Process p : tree.processes()) {
            Tree.Process parent = byPid.get(p.ppid());
            if (p.sid() != root.sid() && !byPid.containsKey(p.sid()) && parent != null && parent.sid() != p.sid()) {
                sessions.putIfAbsent(p.sid(), new Entry(p.ppid(), p.exitSignal()));
            }
        }
        for (Tree.Process p : tree.processes()) {
            if ((ownIds || p.pgid() != root.pgid()) && !byPid.containsKey(p.pgid()) && !sessions.containsKey(p.pgid())
                    && p.pgid() != rootSession) {
                groups.putIfAbsent(p.pgid(), p.pid());
            }
        }
    }

    /**
     * The root of a tree gets its old session and group back when its session leader is gone — unless its
     * group's leader still runs outside the tree (a job of a harness such as timeout(1) in a session whose
     * leader exited): that group's id cannot be taken again, so the root takes cryo restart's, like a shell job.
     */
    public static boolean ownsGoneSession(ProcStat s) throws IOException {
        return gone(s.sid()) && (s.pgid() == s.sid() || s.pgid() == s.pid || gone(s.pgid()));
    }

    /** No task has this id any more (a zombie that its parent has yet to reap counts as gone). */
    static boolean gone(int id) throws IOException {
        ProcStat s = ProcStat.read(id);
        return s == null || s.state == 'Z';
    }

    // ---------------------------------------------------------------- checkpoint

    /**
     * Refuses a group or session whose id is the pid of a task outside the tree (its leader lives on there),
     * and a gone session that its members entered from several parents or with several exit signals (one
     * temporary leader can give only one parent and exit signal with CLONE_PARENT).
     */
    public static void check(Map<Integer, ProcStat> tree, int root, Refusal.Collector refused) throws IOException {
        ProcStat r = tree.get(root);
        // A root whose session leader is gone gets its own session and group back: no exception for them then.
        boolean ownIds = !tree.containsKey(r.sid()) && ownsGoneSession(r);
        Map<Integer, Entry> entered = new HashMap<>();
        for (ProcStat p : tree.values()) {
            for (int id : new int[]{p.sid(), p.pgid()}) {
                boolean session = id == p.sid();
                if (!ownIds && id == (session ? r.sid() : r.pgid()) || tree.containsKey(id)) continue;
                ProcStat outside = ProcStat.read(id);
                if (outside != null && outside.state != 'Z') {
                    refused.add(p.pid, "is in " + (session ? "session " : "process group ") + id + ", whose leader " + id
                            + " (" + outside.comm + ") runs outside the tree: not supported");
                }
            }
            ProcStat parent = tree.get(p.ppid());
            if (p.sid() == r.sid() || tree.containsKey(p.sid()) || parent == null || parent.sid() == p.sid()) continue;
            Entry e = new Entry(p.ppid(), p.exitSignal()), first = entered.putIfAbsent(p.sid(), e);
            if (first != null && !first.equals(e)) {
                refused.add(p.pid, "is in session " + p.sid() + ", whose leader is gone, entered from parent " + p.ppid()
                        + " with exit signal " + p.exitSignal() + " as well as from parent " + first.parent() + " with " + first.exitSignal()
                        + ": not supported");
            }
        }
    }

    /**
     * An image's groups and sessions must be ones restart can make: every member of a group in the group's
     * session (setpgid(2) joins only a group of the caller's session), and a session whose leader is gone
     * entered from one parent with one exit signal.
     */
    public static void validate(Tree tree) throws ImageException {
        Map<Integer, Tree.Process> byPid = new HashMap<>();
        for (Tree.Process p : tree.processes()) byPid.put(p.pid(), p);
        Map<Integer, Tree.Process> firstOfGroup = new HashMap<>();
        Map<Integer, Entry> entered = new HashMap<>();
        Tree.Process root = tree.root();
        for (Tree.Process p : tree.processes()) {
            Tree.Process first = firstOfGroup.putIfAbsent(p.pgid(), p);
            if (first != null && first.sid() != p.sid()) {
                throw new ImageException("record TREE: process group " + p.pgid() + " has members in session " + first.sid() + " (pid "
                        + first.pid() + ") and in session " + p.sid() + " (pid " + p.pid() + ")");
            }
            Tree.Process parent = byPid.get(p.ppid());
            if (p.sid() == root.sid() || byPid.containsKey(p.sid()) || parent == null || parent.sid() == p.sid()) continue;
            if (p.sharesFdTable()) {
                // created by the session's temporary leader, it could share only that leader's fd table
                throw new ImageException("record TREE: pid " + p.pid() + " shares its parent's fd table but entered session " + p.sid()
                        + ", whose leader is gone: not supported");
            }
            Entry e = new Entry(p.ppid(), p.exitSignal()), was = entered.putIfAbsent(p.sid(), e);
            if (was != null && !was.equals(e)) {
                throw new ImageException("record TREE: session " + p.sid() + ", whose leader is gone, is entered by pid " + p.pid()
                        + " from parent " + p.ppid() + " with exit signal " + p.exitSignal() + " and from parent " + was.parent()
                        + " with " + was.exitSignal());
            }
        }
        if (firstOfGroup.containsKey(root.pgid()) && firstOfGroup.get(root.pgid()).sid() != root.sid()) {
            throw new ImageException("record TREE: pid " + firstOfGroup.get(root.pgid()).pid() + " is in the root's process group "
                    + root.pgid() + " but not in its session " + root.sid());
        }
    }

    // ---------------------------------------------------------------- restart

    /** The pids the temporary leaders need: they must be free. */
    public Set<Integer> pids() {
        Set<Integer> s = new TreeSet<>(sessions.keySet());
        s.addAll(groups.keySet());
        if (rootSession != 0) s.add(rootSession);
        return s;
    }

    /** Pid in use (other than by a zombie about to be reaped) -> the error that says so. */
    public void preflight() throws ImageException, IOException {
        for (int pid : pids()) {
            ProcStat s = ProcStat.read(pid);
            if (s != null) {
                throw new ImageException("pid " + pid + ", the id of a " + (sessions.containsKey(pid) || pid == rootSession ? "session" : "process group")
                        + " whose leader is gone, is in use by " + s.comm + " (state " + s.state + ")"
                        + " (cryo restart --fresh-pid-ns IMG restarts the tree in a new pid namespace)");
            }
        }
    }

    /**
     * The task that creates p and the clone flags it adds: p's parent, or for the first members of a gone
     * session the session's temporary leader (created on first use, as a child of the parent), with
     * CLONE_PARENT. Returns null when p is created normally.
     */
    public Tracee sessionLeaderFor(Tree.Process p, Map<Integer, Tracee> tasks, Factory factory) throws SysException, ImageException {
        Entry e = sessions.get(p.sid());
        Tree.Process parent = byPid.get(p.ppid());
        if (e == null || parent == null || parent.sid() == p.sid()) return null;
        Tracee leader = leaders.get(p.sid());
        if (leader == null) {
            leader = factory.create(tasks.get(e.parent()), p.sid(), 0, e.exitSignal());
            leader.syscall("setsid", Nr.SETSID);
            leaders.put(p.sid(), leader);
            parentOf.put(p.sid(), e.parent());
        }
        return leader;
    }

    /**
     * The task that creates the root, when the root's session is its own (else null): a temporary session
     * leader, created by the stub with CLONE_PARENT (cryo is its parent), that called setsid().
     */
    public Tracee rootSessionLeader(Tracee stub, Factory factory) throws SysException, ImageException {
        if (rootSession == 0) return null;
        Tracee leader = factory.create(stub, rootSession, CLONE_PARENT, 0);
        leader.syscall("setsid", Nr.SETSID);
        leaders.put(rootSession, leader);
        return leader;
    }

    /**
     * rootSessionLeader for a root created by the init of a fresh pid namespace (restart --fresh-pid-ns),
     * which may not use CLONE_PARENT (kernel/fork.c): the leader is the init's child, with exit signal
     * SIGCHLD, which the root created by it with CLONE_PARENT takes too; the init reaps the leader once it
     * runs (it reaps every child on SIGCHLD).
     */
    public Tracee rootSessionLeaderUnder(Tracee init, Factory factory) throws SysException, ImageException {
        if (rootSession == 0) return null;
        Tracee leader = factory.create(init, rootSession, 0, Proc.SIGCHLD);
        leader.syscall("setsid", Nr.SETSID);
        leaders.put(rootSession, leader);
        return leader;
    }

    public static long cloneParent() {
        return CLONE_PARENT;
    }

    /** Makes every gone group (not a gone session's) with a temporary leader created in one of its members. */
    public void makeGroups(Map<Integer, Tracee> tasks, Factory factory) throws SysException, ImageException {
        for (var g : groups.entrySet()) {
            Tracee leader = factory.create(tasks.get(g.getValue()), g.getKey(), 0, 0);
            leader.syscall("setpgid(0, 0)", Nr.SETPGID, 0, 0);
            leaders.put(g.getKey(), leader);
            parentOf.put(g.getKey(), g.getValue());
        }
    }

    /** pgid has a temporary leader: members join it like any group. */
    public boolean leads(int pgid) {
        return leaders.containsKey(pgid);
    }

    /**
     * Ends every temporary leader once the members are in their groups: it exits, cryo sees the exit as its
     * tracer, and its parent reaps it (wait4 with __WALL, which also finds a child with no exit signal).
     * Returns, per parent, the exit signals this sent it, for the caller to take away again.
     */
    public Map<Integer, Long> end(Map<Integer, Tracee> tasks) throws SysException {
        Map<Integer, Long> signals = new LinkedHashMap<>();
        for (var l : leaders.entrySet()) {
            int pid = l.getKey();
            l.getValue().exitAs(0);
            // cryo's child: its exit as tracer reaped it (kernel/exit.c); or a fresh pid namespace's init's
            if (pid == rootSession) continue;
            int parent = parentOf.get(pid);
            Tracee p = tasks.get(parent);
            for (int i = 0; p.syscall("wait4(" + pid + ")", Nr.WAIT4, pid, 0, Wait.WNOHANG | Wait.WALL, 0) != pid; i++) {
                if (i == 1000) throw new SysException("remote wait4(" + pid + ") in task " + parent + " found no exited child", cryo.sys.Errno.ECHILD);
                Thread.onSpinWait();
            }
            Entry e = sessions.get(pid);
            if (e != null && e.exitSignal() != 0) signals.merge(parent, 1L << (e.exitSignal() - 1), (x, y) -> x | y);
        }
        return signals;
    }

    /** Host pids of the temporary leaders that were created (to forget them once they are gone). */
    public List<Integer> created() {
        return leaders.values().stream().map(t -> t.tid).toList();
    }
}
