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

        Process(int pid, ProcStat stat) {
            this.pid = pid;
            this.stat = stat;
            this.zombie = stat.state == 'Z';
        }

        public Tracee leader() {
            return threads.getFirst();
        }
    }

    public final Map<Integer, Process> processes = new LinkedHashMap<>();

    private FrozenTree() {
    }

    public static FrozenTree freeze(int root, ProcStat rootStat) throws Refusal, SysException, IOException {
        FrozenTree tree = new FrozenTree();
        try {
            tree.processes.put(root, new Process(root, rootStat));
            boolean changed = true;
            while (changed) {
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

    /** Seizes the threads of p not seized yet; true when any was. */
    private boolean seizeThreads(Process p, boolean isRoot) throws Refusal, SysException, IOException {
        boolean any = false;
        TreeSet<Integer> tids = threads(p.pid);
        if (tids.isEmpty()) {
            if (isRoot) throw new Refusal(p.pid, "exited during checkpoint");
            return false;
        }
        // The leader first, so that leader() is the thread-group leader.
        List<Integer> order = new ArrayList<>();
        if (tids.remove(p.pid)) order.add(p.pid);
        order.addAll(tids);
        for (int tid : order) {
            if (p.threads.stream().anyMatch(t -> t.tid == tid)) continue;
            Tracee t;
            try {
                t = Tracee.seize(tid, Ptrace.O_TRACESYSGOOD);
            } catch (SysException e) {
                // ptrace_attach() gives EPERM, not ESRCH, for a task that has already exited (kernel/ptrace.c):
                // look before calling it a permission problem.
                boolean gone = e.errno() == Errno.ESRCH || (e.errno() == Errno.EPERM && exited(p.pid, tid));
                if (!gone && e.errno() == Errno.EPERM) throw new Refusal(tid, "cannot be traced by this user (ptrace: Operation not permitted)");
                if (!gone) throw e;
                if (tid != p.pid) continue;            // a thread that ended meanwhile
                if (isRoot) throw new Refusal(tid, "exited during checkpoint");
                // A child that exited between the children scan and the seize: drop it; the next scan finds
                // it again as a zombie, or not at all once reaped.
                processes.remove(p.pid);
                return true;
            }
            long mask = Ptrace.getSigmask(tid);
            t.guardMask(mask);   // its signals are blocked only while its registers are borrowed (Tracee)
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

    private static boolean exited(int pid, int tid) throws IOException {
        ProcStat s = ProcStat.readThread(pid, tid);
        return s == null || s.state == 'Z' || s.state == 'X';
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
        for (Process p : processes.values()) {
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
}
