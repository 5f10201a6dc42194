package cryo.checkpoint;

import cryo.image.Refusal;
import cryo.remote.Tracee;
import cryo.sys.Errno;
import cryo.sys.ProcFile;
import cryo.sys.Ptrace;
import cryo.sys.SysException;
import cryo.task.ProcStat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.Consumer;

/**
 * Every process and thread under a root, frozen. Each thread is seized and interrupted; then the children
 * and thread lists are read again, until a pass finds nothing new: a stopped task can no longer fork or
 * clone, so the set is then complete. Zombies are recorded, not seized. Processes come parents first.
 */
public final class FrozenTree {
    /** One process: its stat at freeze time, its stopped threads (leader first) and their original masks. */
    public static final class Process {
        public final int pid;
        public ProcStat stat;
        public final boolean zombie;
        public final List<Tracee> threads = new ArrayList<>();
        public final List<Long> masks = new ArrayList<>();
        /** Threads seized once and killed since (an exec in another thread) whose death cryo has yet to reap. */
        final List<Integer> dying = new ArrayList<>();
        DeadThreadReaper reaper;

        Process(int pid, ProcStat stat) {
            this.pid = pid;
            this.stat = stat;
            // A leader that is a zombie while other threads run (an exec in one of them) is no zombie process.
            int[] threads = stat.statusInts("Threads");
            this.zombie = stat.state == 'Z' && (threads.length == 0 || threads[0] <= 1);
        }

        public Tracee leader() {
            return threads.getFirst();
        }
    }

    public final Map<Integer, Process> processes = new LinkedHashMap<>();

    private FrozenTree() {
    }

    /** Passes over the tree before it is called one that keeps changing faster than it can be frozen. */
    private static final int MAX_PASSES = 10_000;
    /** Times a live thread that nobody traces may refuse PTRACE_SEIZE before it is taken for a permission problem. */
    private static final int MAX_EPERM = 200;

    private final Map<Integer, Integer> epermOf = new java.util.HashMap<>();
    private DeadThreadReaper reaper;

    public static FrozenTree freeze(int root, ProcStat rootStat) throws Refusal, SysException, IOException {
        FrozenTree tree = new FrozenTree();
        try (DeadThreadReaper reaper = new DeadThreadReaper()) {
            tree.reaper = reaper;
            tree.processes.put(root, new Process(root, rootStat));
            boolean changed = true;
            for (int pass = 0; changed; pass++) {
                if (pass == MAX_PASSES) throw new Refusal(root, "its tree kept changing through " + MAX_PASSES + " passes of the freeze");
                changed = false;
                for (Process p : List.copyOf(tree.processes.values())) {
                    if (p.zombie) continue;
                    changed |= tree.seizeThreads(p, p.pid == root);
                }
                for (Process p : List.copyOf(tree.processes.values())) {
                    if (p.zombie) continue;
                    for (int child : children(p)) {
                        if (tree.processes.containsKey(child)) continue;
                        ProcStat s = ProcStat.read(child);
                        if (s == null) continue;          // exited and reaped while we looked
                        tree.processes.put(child, new Process(child, s));
                        changed = true;
                    }
                }
                // Nothing new: every thread is stopped, unless a thread not seized yet exec'd and so killed
                // or replaced those seized before it; and a zombie recorded may have been reaped meanwhile.
                if (!changed) changed = tree.dropChanged();
            }
            for (Process p : tree.processes.values()) {
                if (!p.zombie) p.stat = ProcStat.read(p.pid);
                if (p.stat == null) throw new Refusal(p.pid, "exited during checkpoint");
            }
            cryo.sys.KillPoint.reach("frozen");
            return tree;
        } catch (Refusal | SysException | IOException | RuntimeException e) {
            tree.release(s -> { });
            throw e;
        }
    }

    /** Drops what is no longer as it was seen: replaced threads, reaped or reused zombies. True when any was. */
    private boolean dropChanged() throws SysException, IOException {
        boolean any = false;
        for (Process p : List.copyOf(processes.values())) {
            if (!p.zombie) {
                any |= ThreadSeizer.dropReplaced(p);
                continue;
            }
            ProcStat s = ProcStat.read(p.pid);
            if (s == null || s.state != 'Z' || s.ppid() != p.stat.ppid()) {
                processes.remove(p.pid);
                any = true;
            }
        }
        return any;
    }

    /** Seizes the threads of p not seized yet; true when any was, or when p changed meanwhile. */
    private boolean seizeThreads(Process p, boolean isRoot) throws Refusal, SysException, IOException {
        p.reaper = reaper;
        boolean any = false;
        TreeSet<Integer> tids = threads(p.pid);
        if (tids.isEmpty()) {
            if (isRoot) throw new Refusal(p.pid, "exited during checkpoint");
            // Exited and reaped: the next scan of its parent does not find it again.
            drop(p);
            return true;
        }
        // The leader first, so that leader() is the thread-group leader.
        List<Integer> order = new ArrayList<>();
        if (tids.remove(p.pid)) order.add(p.pid);
        order.addAll(tids);
        for (int tid : order) {
            if (p.threads.stream().anyMatch(t -> t.tid == tid)) continue;
            Tracee t;
            switch (ThreadSeizer.seize(p, tid)) {
                case ThreadSeizer.Seized s -> t = s.tracee();
                case ThreadSeizer.Missed m when m == ThreadSeizer.Missed.NOT_PERMITTED -> {
                    if (epermOf.merge(tid, 1, Integer::sum) > MAX_EPERM) throw new Refusal(tid, "cannot be traced by this user (ptrace: Operation not permitted)");
                    any = true;
                    continue;
                }
                case ThreadSeizer.Missed m when m == ThreadSeizer.Missed.AGAIN -> {
                    any = true;
                    continue;
                }
                case ThreadSeizer.Missed m -> {
                    // A thread that ended meanwhile; or the leader, dead while other threads live on: an exec
                    // in one of them, which will take the leader's tid (de_thread()).
                    if (tid != p.pid || order.size() > 1) {
                        any = true;
                        continue;
                    }
                    if (isRoot) throw new Refusal(tid, "exited during checkpoint");
                    // A child that exited between the children scan and the seize: drop it; the next scan finds
                    // it again as a zombie, or not at all once reaped.
                    drop(p);
                    return true;
                }
            }
            long mask;
            try {
                mask = Ptrace.getSigmask(tid);
                t.guardMask(mask);   // its signals are blocked only while its registers are borrowed (Tracee)
            } catch (SysException e) {
                if (e.errno() != Errno.ESRCH) throw e;
                // Killed once stopped: an exec in a thread not seized yet (de_thread()). Reaped on the next wait.
                p.dying.add(tid);
                ThreadSeizer.reapDead(p);
                any = true;
                continue;
            }
            if (tid == p.pid) {
                p.threads.addFirst(t);
                p.masks.addFirst(mask);
            } else {
                p.threads.add(t);
                p.masks.add(mask);
            }
            any = true;
        }
        return any;
    }

    /** Forgets a process that exited, letting go of any thread of it still held. */
    private void drop(Process p) throws SysException {
        processes.remove(p.pid);
        ThreadSeizer.reapDead(p);
        release(p, s -> { });
    }

    private static TreeSet<Integer> threads(int pid) throws IOException {
        TreeSet<Integer> out = new TreeSet<>();
        try (var s = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : (Iterable<Path>) s::iterator) out.add(Integer.parseInt(t.getFileName().toString()));
        } catch (NoSuchFileException e) {
            return out;
        }
        return out;
    }

    private static List<Integer> children(Process p) throws IOException {
        List<Integer> out = new ArrayList<>();
        for (Tracee t : p.threads) {
            String c;
            try {
                c = ProcFile.read("/proc/" + p.pid + "/task/" + t.tid + "/children").trim();
            } catch (NoSuchFileException e) {
                continue;
            }
            if (c.isEmpty()) continue;
            for (String s : c.split("\\s+")) out.add(Integer.parseInt(s));
        }
        return out;
    }

    /** Every thread and process id of the tree to its process, processes in tree order. */
    public Map<Integer, Integer> tasks() {
        Map<Integer, Integer> out = new LinkedHashMap<>();
        for (Process p : processes.values()) {
            out.put(p.pid, p.pid);
            for (Tracee t : p.threads) out.put(t.tid, p.pid);
        }
        return out;
    }

    /** The parent of each live process, in tree order. */
    public Map<Integer, Integer> liveParents() {
        Map<Integer, Integer> out = new LinkedHashMap<>();
        for (Process p : live()) out.put(p.pid, p.stat.ppid());
        return out;
    }

    public List<Process> live() {
        return processes.values().stream().filter(p -> !p.zombie).toList();
    }

    /** Lets every thread run on as it was (a failed checkpoint, or --leave-running). */
    public void release(Consumer<String> log) {
        for (Process p : processes.values()) release(p, log);
    }

    private static void release(Process p, Consumer<String> log) {
        for (int i = 0; i < p.threads.size(); i++) {
            Tracee t = p.threads.get(i);
            try {
                t.resume(p.masks.get(i));
            } catch (SysException e) {
                if (e.errno() != Errno.ESRCH) log.accept("warning: could not release task " + t.tid + ": " + e.getMessage());
            }
        }
    }
}
