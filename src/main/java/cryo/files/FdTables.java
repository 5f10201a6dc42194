package cryo.files;

import cryo.image.Refusal;
import cryo.image.Tree;
import cryo.remote.Tracee;
import cryo.sys.Proc;
import cryo.sys.SysException;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Fd tables shared by processes (clone(2) CLONE_FILES without CLONE_THREAD): an fd one of them opens
 * appears in the others. Checkpoint finds them with kcmp(KCMP_FILES) and names each table by the first
 * process of the tree that uses it (TREE field fd_table); only that process's fds are saved. Restart
 * creates every other user with clone3(CLONE_FILES) from its parent, which must use the table too, and
 * fills the table once, in its first user.
 */
public final class FdTables {
    public static final long CLONE_FILES = 0x400;

    /** The processes using each table, by its first user, in tree order. */
    private final Map<Integer, List<Integer>> users = new HashMap<>();
    private final Map<Integer, Integer> tableOf = new HashMap<>();

    private FdTables(Tree tree) {
        for (Tree.Process p : tree.processes()) {
            tableOf.put(p.pid(), p.fdTable());
            users.computeIfAbsent(p.fdTable(), k -> new ArrayList<>()).add(p.pid());
        }
    }

    /** The tables of a checked image (cryo.image.Image checks the TREE's fd_table fields). */
    public static FdTables of(Tree tree) {
        return new FdTables(tree);
    }

    /**
     * For each live process, in tree order (parentOf iterates parents first), the first process of the tree
     * using its fd table. Refuses (into refused) a table shared with a process that is neither an earlier user of the
     * table nor the parent's: restart could not rebuild it with clone3(CLONE_FILES) from the parent.
     */
    public static Map<Integer, Integer> checkpoint(Map<Integer, Integer> parentOf, Refusal.Collector refused) throws SysException {
        Map<Integer, Integer> table = new LinkedHashMap<>();
        List<Integer> firstUsers = new ArrayList<>();
        for (var e : parentOf.entrySet()) {
            int pid = e.getKey();
            Integer owner = null;
            for (int first : firstUsers) {
                if (Proc.sameFdTable(first, pid)) {
                    owner = first;
                    break;
                }
            }
            if (owner == null) {
                firstUsers.add(pid);
                table.put(pid, pid);
                continue;
            }
            Integer parentTable = table.get(e.getValue());
            if (parentTable == null || !parentTable.equals(owner)) {
                refused.add(pid, "shares its fd table (CLONE_FILES) with task " + owner + " but not with its parent "
                        + e.getValue() + ": not supported");
            }
            table.put(pid, owner);
        }
        return table;
    }

    /**
     * Refuses (into refused) each process of the tree whose fd table a process outside the tree uses too (restart could not
     * share it again). Such a process holds every fd of the table, so it is among the outside holders of
     * the first one: only those are compared with kcmp(KCMP_FILES).
     */
    public static void refuseSharedOutside(Map<Integer, Map<Integer, String>> fdLinks, Map<String, List<FileTable.Holder>> outside,
                                           Refusal.Collector refused) {
        for (var e : fdLinks.entrySet()) {
            if (e.getValue().isEmpty()) continue;
            var first = e.getValue().entrySet().iterator().next();
            for (FileTable.Holder o : outside.getOrDefault(first.getValue(), List.of())) {
                if (o.fd() != first.getKey()) continue;
                try {
                    if (Proc.sameFdTable(e.getKey(), o.pid())) {
                        refused.add(e.getKey(), "shares its fd table (CLONE_FILES) with task " + o.pid() + ", which is outside the tree: not supported");
                        break;
                    }
                } catch (SysException gone) {
                    // the outside process exited
                }
            }
        }
    }

    /** CLONE_FILES when p is created by its parent sharing the parent's table. */
    public long cloneFlags(Tree.Process p) {
        return p.sharesFdTable() ? CLONE_FILES : 0;
    }

    /** True when pid fills its fd table at restart: it is the table's first user. */
    public boolean fills(int pid) {
        return tableOf.get(pid) == pid;
    }

    /**
     * The end of pid's fd work: the table's first user closes fds 0-2 that the image does not have; the
     * last one closes the broker socket, which every user needed until then to receive its mapped files.
     */
    public void closeStrays(Tracee t, int pid, List<FdRecord> fds, int brokerFd) throws SysException {
        int table = tableOf.get(pid);
        boolean last = users.get(table).getLast() == pid;
        if (table == pid) OpenFiles.closeStdioStrays(t, fds);
        if (last) OpenFiles.closeBroker(t, brokerFd);
    }
}
