package cryo.ns;

import cryo.image.Refusal;
import cryo.sys.Net;
import cryo.sys.ProcFile;
import cryo.sys.Uts;
import cryo.task.ProcStat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * Checkpoint of a container (the kernel series' "root of a container"): a tree whose root is the init, pid 1,
 * of a pid namespace other than cryo's. Every process of that namespace must be in the tree, in the init's
 * namespaces; the image holds each task's pid inside the namespace (pids()) and which namespaces it had
 * of its own with their state (record()). A tree in cryo's pid namespace is a plain tree (checkPlainTree).
 */
public final class Container {
    /** Kinds a task may have apart from cryo's only as the container's own, recreated at restart. */
    private static final List<Namespace> OWN = List.of(Namespace.PID, Namespace.MNT, Namespace.NET, Namespace.UTS);
    /** Kinds cryo cannot recreate: they must be cryo's. */
    private static final List<Namespace> CRYOS = List.of(Namespace.USER, Namespace.CGROUP, Namespace.TIME);
    /** /proc/PID/net tables of sockets (proc(5)); a missing one (no IPv6) holds none. */
    private static final List<String> SOCKET_TABLES = List.of("tcp", "tcp6", "udp", "udp6", "udplite", "udplite6", "raw", "raw6", "unix");

    /** Host pid of the init. */
    public final int init;
    private final String pidNs;

    private Container(int init, String pidNs) {
        this.init = init;
        this.pidNs = pidNs;
    }

    /**
     * The container whose init is root; null when root is in cryo's pid namespace (a plain tree). A root
     * inside another pid namespace that is not its init is refused, naming the init.
     */
    public static Container of(int root) throws Refusal, IOException {
        String ns = Namespace.PID.of(root);
        if (ns == null || !Namespace.PID.differsFromCryo(root)) return null;
        if (nsPid(root) == 1) return new Container(root, ns);
        // The init is the last ancestor in the namespace: its own parent is outside.
        int init = root;
        for (ProcStat s = ProcStat.read(init); s != null; s = ProcStat.read(init)) {
            int parent = (int) s.field(4);
            if (parent <= 0 || !ns.equals(linkOrNull(Namespace.PID, parent))) break;
            init = parent;
        }
        if (nsPid(init) != 1) init = 0;
        throw new Refusal(root, "is inside a pid namespace (" + ns + ") but not its init: checkpoint the root of a container, "
                + (init > 0 ? "its init " + init : "whose init has exited"));
    }

    /** The last pid of the NSpid line (proc(5)): the task's pid in its own pid namespace; 0 once it is gone. */
    public static int nsPid(int hostTid) throws IOException {
        ProcStat s = ProcStat.read(hostTid);
        if (s == null) return 0;
        String[] f = s.status("NSpid").trim().split("\\s+");
        return Integer.parseInt(f[f.length - 1]);
    }

    // ---------------------------------------------------------------- checks

    /** A plain tree: every namespace but the IPC one (which travels, cryo.ipc) must be cryo's. */
    public static void checkPlainTree(Collection<Integer> live, Refusal.Collector refused) throws IOException {
        // A container inside the tree (unshare --fork --pid's child): one line naming its init, which is what
        // the user meant to checkpoint, instead of a line per namespace of each of its tasks.
        Set<String> containers = new java.util.HashSet<>();
        for (int pid : live) {
            if (Namespace.PID.differsFromCryo(pid) && nsPid(pid) == 1 && containers.add(Namespace.PID.of(pid))) {
                refused.add(pid, "is the init (pid 1) of a pid namespace of its own, a container inside the tree: checkpoint the container alone (cryo checkpoint " + pid + ")");
            }
        }
        for (int pid : live) {
            // its tasks, and the one that made it (unshare(1) itself: its pid_for_children is the container's)
            if (containers.contains(Namespace.PID.of(pid)) || containers.contains(pidForChildren(pid))) continue;
            for (Namespace ns : List.of(Namespace.PID, Namespace.MNT, Namespace.NET, Namespace.UTS, Namespace.USER, Namespace.CGROUP, Namespace.TIME)) {
                if (ns.differsFromCryo(pid)) refused.add(pid, "is in another " + ns.proc + " namespace than cryo (" + ns.of(pid) + "): not supported yet");
            }
            pendingForChildren(pid, refused);
        }
    }

    /**
     * Every live process of the tree in the init's pid, mount, network and UTS namespaces (the IPC one is
     * checked with the IPC objects) and in cryo's user, cgroup and time namespaces; every process of the pid
     * namespace in the tree (one that joined it with setns(2) has a parent outside it).
     */
    public void check(Collection<Integer> live, Collection<Integer> tree, Refusal.Collector refused) throws IOException {
        java.util.Map<Namespace, String> initNs = new java.util.EnumMap<>(Namespace.class);
        for (Namespace ns : OWN) initNs.put(ns, ns.of(init));
        for (int pid : live) {
            // Every task, not only the init: one that unshare(1)d a time namespace inside would come back in
            // cryo's, its CLOCK_MONOTONIC deadlines off by the namespace's offset.
            for (Namespace ns : CRYOS) {
                if (!ns.differsFromCryo(pid)) continue;
                refused.add(pid, (pid == init ? "the container is" : "is") + " in a " + ns.proc + " namespace of its own ("
                        + ns.of(pid) + "): cryo cannot recreate it");
            }
            pendingForChildren(pid, refused);
            if (pid == init) continue;
            for (Namespace ns : OWN) {
                String theirs = ns.of(pid);
                if (theirs != null && !theirs.equals(initNs.get(ns))) {
                    refused.add(pid, "is in another " + ns.proc + " namespace (" + theirs + ") than the container's init " + init
                            + " (entered with setns(2) or made with unshare(2)): not supported");
                }
            }
        }
        for (int pid : processes()) {
            if (tree.contains(pid) || !pidNs.equals(linkOrNull(Namespace.PID, pid))) continue;
            ProcStat s = ProcStat.read(pid);
            if (s == null) continue;
            refused.add(pid, s.comm + ", pid " + nsPid(pid) + " in the container, is in the pid namespace of the container's init " + init
                    + " but not under it: it entered with setns(2), not supported");
        }
    }

    private static String pidForChildren(int pid) throws IOException {
        Path link = Path.of("/proc/" + pid + "/ns/pid_for_children");
        return Files.exists(link, LinkOption.NOFOLLOW_LINKS) ? Files.readSymbolicLink(link).toString() : null;
    }

    /**
     * A task that called unshare(CLONE_NEWPID or CLONE_NEWTIME) has the new namespace waiting for its children
     * (/proc/PID/ns/pid_for_children, time_for_children: namespaces(7)); restart cannot set that up again.
     */
    private static void pendingForChildren(int pid, Refusal.Collector refused) throws IOException {
        for (Namespace ns : List.of(Namespace.PID, Namespace.TIME)) {
            Path link = Path.of("/proc/" + pid + "/ns/" + ns.proc + "_for_children");
            if (!Files.exists(link, LinkOption.NOFOLLOW_LINKS)) continue;
            String own = ns.of(pid), children = Files.readSymbolicLink(link).toString();
            if (own != null && !own.equals(children)) {
                refused.add(pid, "has a new " + ns.proc + " namespace waiting for its children (" + children + ", unshare(2)): not supported");
            }
        }
    }

    /** Host pid -> pid in the container, for every thread given (NSpid of /proc/PID/status). */
    public PidMap pids(Collection<Integer> hostTids) throws IOException, Refusal {
        PidMap m = PidMap.container();
        for (int tid : hostTids) {
            int ns = nsPid(tid);
            if (ns == 0) throw new Refusal(tid, "exited during checkpoint");
            m.put(tid, ns);
        }
        return m;
    }

    // ---------------------------------------------------------------- what the image holds

    /**
     * Which namespaces the container has of its own, its host and domain name, its loopback state. A network
     * namespace of its own may hold nothing but lo and no socket: that is all cryo recreates.
     */
    public NamespacesRecord record(Refusal.Collector refused) throws IOException {
        Set<Namespace> own = EnumSet.of(Namespace.PID);
        for (Namespace ns : List.of(Namespace.IPC, Namespace.UTS, Namespace.MNT, Namespace.NET)) {
            if (ns.differsFromCryo(init)) own.add(ns);
        }
        Uts.Names names = new Uts.Names("", "");
        boolean loUp = false;
        try {
            if (own.contains(Namespace.UTS)) names = Namespace.UTS.run(init, Uts::uname);
            if (own.contains(Namespace.NET)) {
                checkNetwork(refused);
                loUp = (Namespace.NET.run(init, () -> Net.interfaceFlags("lo")) & Net.IFF_UP) != 0;
                NetState.check(init, loUp, refused);
            }
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("reading the namespaces of the container's init " + init + ": " + e.getMessage(), e);
        }
        return new NamespacesRecord(own, names.hostname(), names.domainname(), loUp);
    }

    private void checkNetwork(Refusal.Collector refused) throws IOException {
        String[] dev = ProcFile.read("/proc/" + init + "/net/dev").split("\n");
        for (int i = 2; i < dev.length; i++) {
            String name = dev[i].substring(0, dev[i].indexOf(':')).trim();
            if (!name.equals("lo")) refused.add(init, "the container's network namespace has interface " + name + ": cryo recreates only lo");
        }
        for (String table : SOCKET_TABLES) {
            String[] lines;
            try {
                lines = ProcFile.read("/proc/" + init + "/net/" + table).split("\n");
            } catch (NoSuchFileException e) {
                continue;
            }
            if (lines.length > 1) refused.add(init, "the container's network namespace has " + (lines.length - 1) + " " + table + " socket(s): not supported");
        }
    }

    // ---------------------------------------------------------------- /proc

    private static List<Integer> processes() throws IOException {
        try (var s = Files.list(Path.of("/proc"))) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.chars().allMatch(Character::isDigit))
                    .map(Integer::parseInt).toList();
        }
    }

    private static String linkOrNull(Namespace ns, int pid) {
        try {
            return ns.of(pid);
        } catch (IOException e) {
            return null;   // gone meanwhile, or not ours to read
        }
    }
}
