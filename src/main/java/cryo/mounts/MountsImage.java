package cryo.mounts;

import cryo.files.FileData;
import cryo.image.ImageException;
import cryo.image.ImageRecord;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The mount records of an image, checked across records as they are read (cryo.image.Image hands each one
 * to add(), then calls checkComplete()): mount ids unique, parents and bind sources recorded before, at most
 * one ROOT and first; tmpfs entries after their mount, parents before children, hard links to files before
 * them; data inside each file, in order, as many bytes as the entry and the mount say.
 */
public final class MountsImage {
    private final Map<Integer, MountRecord> mounts = new LinkedHashMap<>();
    private final List<MountGoneRecord> gone = new ArrayList<>();
    private final Map<Integer, List<TmpfsFileRecord>> files = new HashMap<>();
    private final Map<Integer, TmpfsFileRecord> byIndex = new HashMap<>();
    private final Map<Integer, List<TmpfsDataRecord>> data = new HashMap<>();
    /** Per tmpfs mount: the paths of its entries, and which of them are directories and files. */
    private final Map<Integer, Map<String, TmpfsFileRecord.Kind>> paths = new HashMap<>();

    /** Collects one record; name is how errors call it ("MOUNT #2"). */
    public void add(MountsRecord r, String name) throws ImageException {
        switch (r) {
            case MountRecord m -> {
                if (mounts.containsKey(m.id())) throw new ImageException("record " + name + ": mount id " + m.id() + " is used twice");
                if (m.kind() == MountRecord.Kind.ROOT && !mounts.isEmpty()) throw new ImageException("record " + name + ": a ROOT mount after other MOUNT records");
                if (m.parent() != 0 && !mounts.containsKey(m.parent())) throw new ImageException("record " + name + ": field 'parent' names mount " + m.parent() + ", which no MOUNT record before it has");
                if (m.kind() == MountRecord.Kind.BIND_INSIDE) {
                    MountRecord src = mounts.get(m.sourceMount());
                    if (src == null || src.kind() != MountRecord.Kind.FS) throw new ImageException("record " + name + ": field 'source_mount' names mount " + m.sourceMount() + ", which no FS MOUNT record before it has");
                }
                mounts.put(m.id(), m);
                files.put(m.id(), new ArrayList<>());
                paths.put(m.id(), new HashMap<>());
            }
            case MountGoneRecord g -> {
                if (!mounts.isEmpty() && !(mounts.size() == 1 && root() != null)) throw new ImageException("record " + name + ": MOUNT_GONE after MOUNT records other than the ROOT");
                gone.add(g);
            }
            case TmpfsFileRecord f -> addFile(f, name);
            case TmpfsDataRecord d -> {
                TmpfsFileRecord f = byIndex.get(d.file());
                if (f == null || f.kind() != TmpfsFileRecord.Kind.FILE) throw new ImageException("record " + name + ": field 'file' names " + d.file() + ", which no TMPFS_FILE record of a FILE before it has");
                FileData.checkNext(data.get(d.file()), d, f.size(), f.describe(), name);
            }
        }
    }

    private void addFile(TmpfsFileRecord f, String name) throws ImageException {
        MountRecord m = mounts.get(f.mount());
        if (m == null || !m.tmpfs()) throw new ImageException("record " + name + ": field 'mount' names mount " + f.mount() + ", which no tmpfs MOUNT record before it has");
        if (byIndex.containsKey(f.index())) throw new ImageException("record " + name + ": field 'index' " + f.index() + " is used twice");
        List<TmpfsFileRecord> entries = files.get(f.mount());
        Map<String, TmpfsFileRecord.Kind> seen = paths.get(f.mount());
        if (entries.isEmpty() != f.path().isEmpty()) throw new ImageException("record " + name + ": the first entry of a tmpfs is its root directory (path ''), this is '" + f.path() + "'");
        if (!f.path().isEmpty()) {
            if (seen.get(MountPaths.parentOf(f.path())) != TmpfsFileRecord.Kind.DIR) {
                throw new ImageException("record " + name + ": the directory of '" + f.path() + "' has no TMPFS_FILE record before it");
            }
            if (seen.containsKey(f.path())) throw new ImageException("record " + name + ": '" + f.path() + "' appears twice in mount " + f.mount());
        }
        if (f.kind() == TmpfsFileRecord.Kind.HARDLINK && seen.get(f.target()) != TmpfsFileRecord.Kind.FILE) {
            throw new ImageException("record " + name + ": field 'target' '" + f.target() + "' is no FILE before it in mount " + f.mount());
        }
        if (entries.size() >= m.tmpfsFiles()) throw new ImageException("record " + name + ": mount " + m.id() + " has more entries than its field 'tmpfs_files' (" + m.tmpfsFiles() + ")");
        entries.add(f);
        seen.put(f.path(), f.kind());
        byIndex.put(f.index(), f);
        data.put(f.index(), new ArrayList<>());
    }

    /** Every tmpfs has all its entries, every file all its data. */
    public void checkComplete() throws ImageException {
        for (MountRecord m : mounts.values()) {
            if (!m.tmpfs()) continue;
            List<TmpfsFileRecord> entries = files.get(m.id());
            long bytes = 0;
            for (TmpfsFileRecord f : entries) {
                long n = FileData.dataBytes(data.get(f.index()));
                if (n != f.dataBytes()) throw new ImageException("record " + f.describe() + ": its TMPFS_DATA records hold " + n + " bytes, field 'data_bytes' says " + f.dataBytes());
                bytes += n;
            }
            if (entries.size() != m.tmpfsFiles() || bytes != m.tmpfsBytes()) {
                throw new ImageException("record MOUNT " + m.describe() + ": the image holds " + entries.size() + " entries and " + bytes
                        + " bytes of it, fields 'tmpfs_files' and 'tmpfs_bytes' say " + m.tmpfsFiles() + " and " + m.tmpfsBytes());
            }
        }
    }

    /** Collects every mount record of records (for images read without cryo.image.Image). */
    public static MountsImage of(List<ImageRecord> records) throws ImageException {
        MountsImage out = new MountsImage();
        int[] n = new int[128];
        for (ImageRecord r : records) {
            if (r instanceof MountsRecord m) out.add(m, r.type() + " #" + n[r.type().code]++);
        }
        out.checkComplete();
        return out;
    }

    public boolean isEmpty() {
        return mounts.isEmpty() && gone.isEmpty();
    }

    /** The pivot_root target of a `--root` container, or null. */
    public MountRecord root() {
        MountRecord first = mounts.isEmpty() ? null : mounts.values().iterator().next();
        return first != null && first.kind() == MountRecord.Kind.ROOT ? first : null;
    }

    /** The mounts in the order restart makes them (the ROOT first, if any). */
    public List<MountRecord> mounts() {
        return List.copyOf(mounts.values());
    }

    public MountRecord mount(int id) {
        return mounts.get(id);
    }

    public List<MountGoneRecord> gone() {
        return List.copyOf(gone);
    }

    /** The entries of a tmpfs mount, parents first. */
    public List<TmpfsFileRecord> files(int mount) {
        return files.getOrDefault(mount, List.of());
    }

    /** The data of a tmpfs FILE entry, in offset order. */
    public List<TmpfsDataRecord> data(int index) {
        return data.getOrDefault(index, List.of());
    }

    /** Every TMPFS_DATA record (for a background CRC check). */
    public List<TmpfsDataRecord> allData() {
        List<TmpfsDataRecord> out = new ArrayList<>();
        data.values().forEach(out::addAll);
        return out;
    }

    /**
     * True when path (absolute, in the container) lies on a mount that cryo makes itself at restart (a tmpfs
     * with its files, proc, sysfs, devpts, mqueue): its files need not exist on the host.
     */
    public boolean restoredByCryo(String path) {
        MountRecord m = mountOf(path);
        return m != null && (m.kind() == MountRecord.Kind.FS || m.kind() == MountRecord.Kind.BIND_INSIDE);
    }

    /**
     * Where path (absolute, in the container) lies on the host: through the bind mounts and the root of the
     * container; null when it lies on a mount cryo makes itself (restoredByCryo).
     */
    public String hostPath(String path) {
        MountRecord m = mountOf(path);
        if (m == null || m.kind() == MountRecord.Kind.FLAGS) {
            MountRecord root = root();
            return root == null ? path : MountPaths.join(root.source(), path);
        }
        return switch (m.kind()) {
            case ROOT, BIND -> MountPaths.join(m.source(), MountPaths.relativeTo(path, m.mountPoint()));
            default -> null;
        };
    }

    /** The last recorded mount (the topmost) whose mount point holds path, or null. */
    private MountRecord mountOf(String path) {
        MountRecord found = null;
        for (MountRecord m : mounts.values()) {
            if (m.kind() != MountRecord.Kind.FLAGS && MountPaths.under(path, m.mountPoint())) found = m;
        }
        return found;
    }
}
