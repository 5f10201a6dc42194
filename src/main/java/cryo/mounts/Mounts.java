package cryo.mounts;

import cryo.image.DataCheck;
import cryo.image.Image;
import cryo.image.ImageException;
import cryo.image.Refusal;
import cryo.remote.Tracee;
import cryo.sys.SysException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The mount namespace of a container (the kernel series' "root of a container"): checkpoint records what
 * differs from cryo's own namespace, restart makes it again in the fresh namespace of the container's init.
 */
public final class Mounts {
    private Mounts() {
    }

    /**
     * Reads the mount namespace of the container whose init is hostInitPid (frozen): the mounts made inside
     * it, the tmpfs files, its root and the inherited mounts it removed. What cannot be made again goes to
     * refused, one line per mount. Empty for a task in cryo's own mount namespace.
     */
    public static MountsDump checkpoint(int hostInitPid, Refusal.Collector refused) throws IOException {
        return MountsCheckpoint.run(hostInitPid, refused);
    }

    /** True when task pid has a mount namespace other than cryo's. */
    public static boolean ownNamespace(int pid) throws IOException {
        return !Files.readSymbolicLink(Path.of("/proc/" + pid + "/ns/mnt")).equals(Files.readSymbolicLink(Path.of("/proc/self/ns/mnt")));
    }

    /** Checks, before any process exists, that what the mounts need on the host is there. */
    public static void preflight(Image image) throws ImageException {
        preflight(image.mounts());
    }

    public static void preflight(MountsImage image) throws ImageException {
        MountRecord root = image.root();
        if (root != null && !Files.isDirectory(Path.of(root.source()))) {
            throw new ImageException("record MOUNT " + root.describe() + ": the root directory " + root.source() + " is gone");
        }
        List<MountRecord> mounts = image.mounts();
        for (int i = 0; i < mounts.size(); i++) {
            MountRecord m = mounts.get(i);
            if (m.kind() == MountRecord.Kind.BIND && !Files.exists(Path.of(m.source()))) {
                throw new ImageException("record MOUNT " + m.describe() + ": the bind source " + m.source() + " is gone");
            }
            if (m.kind() == MountRecord.Kind.ROOT || m.kind() == MountRecord.Kind.FLAGS) continue;
            String on = hostPathBefore(image, mounts.subList(0, i), m.mountPoint());
            if (on != null && !Files.exists(Path.of(on))) {
                throw new ImageException("record MOUNT " + m.describe() + ": its mount point " + on + " is gone from the host");
            }
        }
    }

    /** Where a mount point lies on the host given the mounts made before it; null if on a mount cryo makes. */
    private static String hostPathBefore(MountsImage image, List<MountRecord> before, String path) {
        MountRecord on = null;
        for (MountRecord m : before) if (m.kind() != MountRecord.Kind.FLAGS && MountPaths.under(path, m.mountPoint())) on = m;
        if (on == null) return MountPaths.join(image.root() == null ? "" : image.root().source(), path);
        return switch (on.kind()) {
            case ROOT, BIND -> MountPaths.join(on.source(), MountPaths.relativeTo(path, on.mountPoint()));
            default -> null;
        };
    }

    /**
     * Makes the image's mounts in init, the container's new init (in a new mount namespace, a copy of cryo's,
     * before any child of it exists); initHostPid is its pid on the host.
     */
    public static void restore(Tracee init, int initHostPid, Image image, DataCheck data) throws SysException, IOException, ImageException {
        restore(init, initHostPid, image.mounts(), data);
    }

    public static void restore(Tracee init, int initHostPid, MountsImage image, DataCheck data) throws SysException, IOException, ImageException {
        new MountsRestore(init, initHostPid, image, data).run();
    }
}
