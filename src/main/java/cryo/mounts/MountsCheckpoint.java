package cryo.mounts;

import cryo.image.Refusal;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Compares a container init's mountinfo with cryo's. A new mount namespace starts as a copy of its creator's
 * (same devices, roots and mount points, new ids: mount_namespaces(7)), so what matches a mount of cryo's at
 * the same place was inherited and is left to the copy restart starts from; the rest was made inside.
 */
final class MountsCheckpoint {
    private final int pid;
    private final List<MountInfo> host, theirs;
    private final Refusal.Collector refused;
    private final Set<Integer> hostGroups = new HashSet<>();
    /** Host path of the container's root directory: "" when it is cryo's own root. */
    private String rootHost = "";

    private MountsCheckpoint(int pid, List<MountInfo> host, List<MountInfo> theirs, Refusal.Collector refused) {
        this.pid = pid;
        this.host = host;
        this.theirs = theirs;
        this.refused = refused;
        for (MountInfo h : host) if (h.sharedGroup() != 0) hostGroups.add(h.sharedGroup());
    }

    static MountsDump run(int pid, Refusal.Collector refused) throws IOException {
        if (!Mounts.ownNamespace(pid)) return new MountsDump(List.of(), List.of());   // cryo's: nothing of its own
        return new MountsCheckpoint(pid, MountInfo.read("self"), MountInfo.read(String.valueOf(pid)), refused).dump();
    }

    private void refuse(MountInfo m, String why) {
        refused.add(new Refusal("mount " + m.describe() + " of container " + pid + ": " + why));
    }

    private static MountInfo bottom(List<MountInfo> ms) {
        Set<Integer> ids = new HashSet<>();
        for (MountInfo m : ms) ids.add(m.id());
        for (MountInfo m : ms) if (!ids.contains(m.parent()) || m.parent() == m.id()) return m;
        return ms.getFirst();
    }

    private MountsDump dump() throws IOException {
        List<MountsDump.Item> items = new ArrayList<>();
        Set<MountInfo> matched = new HashSet<>();
        MountInfo root = bottom(theirs), hostRoot = bottom(host);
        matched.add(hostRoot);
        if (!(root.device().equals(hostRoot.device()) && root.root().equals(hostRoot.root()))) {
            String dir = hostPathOf(root);
            if (dir == null || dir.equals("/")) {
                refuse(root, "the container's root is no directory of a mount of cryo's, so cryo cannot make it again");
                return new MountsDump(items, List.of());
            }
            rootHost = dir;
            propagation(root);
            items.add(new MountsDump.Item(new MountRecord(root.id(), 0, MountRecord.Kind.ROOT, false, root.flags() | unbindable(root), 0, 0, 0,
                    "/", root.fsType(), dir, ""), List.of()));
            for (MountInfo h : host) if (h.mountPoint().equals(dir) && h.device().equals(root.device()) && h.root().equals(root.root())) matched.add(h);
        }
        Set<Integer> recorded = new HashSet<>();
        if (!items.isEmpty()) recorded.add(root.id());
        Map<String, Integer> madeDevices = new HashMap<>();
        int nextIndex = 1;
        for (MountInfo m : theirs) {
            if (m == root) continue;
            if (m.mountPoint().equals("/")) {
                refuse(m, "a mount over the container's /, which cryo does not make again");
                continue;
            }
            propagation(m);
            String hostMp = MountPaths.join(rootHost, m.mountPoint());
            MountInfo h = host.stream().filter(x -> !matched.contains(x) && x.mountPoint().equals(hostMp) && x.device().equals(m.device())
                    && x.root().equals(m.root()) && x.fsType().equals(m.fsType())).findFirst().orElse(null);
            int parent = recorded.contains(m.parent()) ? m.parent() : 0;
            if (h != null) {
                matched.add(h);
                if (h.flags() != m.flags() || m.unbindable()) {
                    items.add(item(m, parent, MountRecord.Kind.FLAGS, "", 0, "", 0, 0));
                    recorded.add(m.id());
                }
                continue;
            }
            MountsDump.Item it = made(m, parent, madeDevices, nextIndex);
            if (it == null) continue;
            items.add(it);
            recorded.add(m.id());
            nextIndex += it.entries().size();
            if (it.mount().kind() == MountRecord.Kind.FS) madeDevices.putIfAbsent(m.device(), m.id());
        }
        List<MountGoneRecord> gone = new ArrayList<>();
        for (MountInfo h : host) {
            if (matched.contains(h)) continue;
            if (!rootHost.isEmpty() && (!MountPaths.under(h.mountPoint(), rootHost) || h.mountPoint().equals(rootHost))) continue;
            String mp = rootHost.isEmpty() ? h.mountPoint() : "/" + MountPaths.relativeTo(h.mountPoint(), rootHost);
            if (!mp.equals("/")) gone.add(new MountGoneRecord(mp));
        }
        gone.sort(Comparator.comparingInt((MountGoneRecord g) -> g.mountPoint().length()).reversed());
        return new MountsDump(items, gone);
    }

    /** A mount made inside the container: a new file system, or a bind of a host path or of one of its own mounts. */
    private MountsDump.Item made(MountInfo m, int parent, Map<String, Integer> madeDevices, int nextIndex) throws IOException {
        Integer inside = madeDevices.get(m.device());
        boolean pseudo = MountRecord.FS_TYPES.contains(m.fsType()) && !m.fsType().equals("tmpfs");
        if (inside != null && !(pseudo && m.root().equals("/"))) {
            return item(m, parent, MountRecord.Kind.BIND_INSIDE, m.root(), inside, "", 0, 0);
        }
        String hostSource = hostPathOf(m);
        if (pseudo || (m.fsType().equals("tmpfs") && hostSource == null)) {
            if (!m.root().equals("/")) {
                refuse(m, "a bind of '" + m.root() + "' of a " + m.fsType() + " whose root is mounted nowhere, which cryo cannot make again");
                return null;
            }
            if (!m.fsType().equals("tmpfs")) return item(m, parent, MountRecord.Kind.FS, m.source(), 0, m.fsOptions(), 0, 0);
            if (hidden(m)) {
                refuse(m, "a tmpfs hidden under another mount, whose files cryo cannot read");
                return null;
            }
            Set<String> covered = new HashSet<>();
            for (MountInfo o : theirs) {
                if (o != m && !o.mountPoint().equals(m.mountPoint()) && MountPaths.under(o.mountPoint(), m.mountPoint())) covered.add(MountPaths.relativeTo(o.mountPoint(), m.mountPoint()));
            }
            List<TmpfsContents.Entry> entries = TmpfsContents.scan(m.id(), "/proc/" + pid + "/root" + m.mountPoint(), covered, m.describe(), nextIndex, refused);
            long bytes = 0;
            for (TmpfsContents.Entry e : entries) bytes += e.record().dataBytes();
            MountRecord r = new MountRecord(m.id(), parent, MountRecord.Kind.FS, m.superOptions().startsWith("ro"), m.flags() | unbindable(m),
                    0, entries.size(), bytes, m.mountPoint(), m.fsType(), m.source(), m.fsOptions());
            return new MountsDump.Item(r, entries);
        }
        if (hostSource != null) return item(m, parent, MountRecord.Kind.BIND, hostSource, 0, "", 0, 0);
        if (m.fsType().equals("overlay")) refuse(m, "an overlay file system, which cryo cannot make again");
        else if (m.source().startsWith("/dev/")) refuse(m, "a mount of block device " + m.source() + ", which cryo cannot make again");
        else refuse(m, "a file system of type " + m.fsType() + " that cryo cannot make again");
        return null;
    }

    private static MountsDump.Item item(MountInfo m, int parent, MountRecord.Kind kind, String source, int sourceMount, String options, int files, long bytes) {
        return new MountsDump.Item(new MountRecord(m.id(), parent, kind, false, m.flags() | unbindable(m), sourceMount, files, bytes,
                m.mountPoint(), m.fsType(), source, options), List.of());
    }

    private static long unbindable(MountInfo m) {
        return m.unbindable() ? cryo.sys.Mount.MS_UNBINDABLE : 0;
    }

    /** Restart makes every mount private: a mount that shares or receives mount events is refused. */
    private void propagation(MountInfo m) {
        int shared = m.sharedGroup(), master = m.masterGroup();
        if (shared != 0) {
            refuse(m, hostGroups.contains(shared) ? "shares mount events with the host (peer group " + shared + "), which restart cannot keep"
                    : "is a shared mount (peer group " + shared + "); restart makes every mount private");
        }
        if (master != 0) refuse(m, "receives mount events from peer group " + master + "; restart makes every mount private");
    }

    /** The host path of m's root directory, through a mount of cryo's of the same file system; null if none holds it. */
    private String hostPathOf(MountInfo m) {
        MountInfo best = null;
        for (MountInfo h : host) {
            if (h.device().equals(m.device()) && MountPaths.under(m.root(), h.root()) && (best == null || h.root().length() > best.root().length())) best = h;
        }
        return best == null ? null : MountPaths.join(best.mountPoint(), MountPaths.relativeTo(m.root(), best.root()));
    }

    /** True when a later mount covers m: one on top of it, or one on a directory above it that is not its ancestor. */
    private boolean hidden(MountInfo m) {
        Set<Integer> ancestors = new HashSet<>();
        Map<Integer, MountInfo> byId = new HashMap<>();
        for (MountInfo o : theirs) byId.put(o.id(), o);
        for (MountInfo a = byId.get(m.parent()); a != null && ancestors.add(a.id()); a = byId.get(a.parent())) {
            // walk up to the root
        }
        for (MountInfo o : theirs) {
            if (o == m || ancestors.contains(o.id())) continue;
            if (o.mountPoint().equals(m.mountPoint()) ? o.parent() == m.id() : MountPaths.under(m.mountPoint(), o.mountPoint()) && isAfter(o, m)) return true;
        }
        return false;
    }

    private boolean isAfter(MountInfo o, MountInfo m) {
        return theirs.indexOf(o) > theirs.indexOf(m);
    }
}
