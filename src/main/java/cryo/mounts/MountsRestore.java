package cryo.mounts;

import cryo.image.DataCheck;
import cryo.image.ImageException;
import cryo.remote.Tracee;
import cryo.sys.Errno;
import cryo.sys.Mount;
import cryo.sys.Nr;
import cryo.sys.SysException;

/**
 * Makes the mounts of an image in the container's init by remote mount(2) calls: everything private first
 * (nothing propagates to the host), the root bound on itself, the removed mounts removed, every mount in its
 * order (a tmpfs filled by cryo through /proc/INITPID/root before anything is mounted inside it), then
 * pivot_root into the root (the "pivot_root(".", ".")" of pivot_root(2)) and the old root detached.
 */
final class MountsRestore {
    /**
     * Offsets in the init's general scratch area (below Scratch.AUX) of mount(2)'s string arguments: paths and
     * options of at most 4096 bytes and a NUL, a type of MountRecord.FS_TYPES.
     */
    private static final long SOURCE = 0, TARGET = 4104, TYPE = 8208, DATA = 8272;

    private final Tracee init;
    private final int pid;
    private final MountsImage image;
    private final DataCheck data;

    MountsRestore(Tracee init, int pid, MountsImage image, DataCheck data) {
        this.init = init;
        this.pid = pid;
        this.image = image;
        this.data = data;
    }

    void run() throws SysException, ImageException {
        ownNamespace();
        mount("make every mount private", null, "/", null, Mount.MS_REC | Mount.MS_PRIVATE, null);
        MountRecord root = image.root();
        String prefix = root == null ? "" : root.source();
        if (root != null) {
            mount(root.describe(), prefix, prefix, null, Mount.MS_BIND | Mount.MS_REC, null);
            flags(root, prefix);
        }
        for (MountGoneRecord g : image.gone()) {
            long r = init.call(Nr.UMOUNT2, null, init.putString(TARGET, MountPaths.join(prefix, g.mountPoint())), Mount.MNT_DETACH);
            // EINVAL: no longer a mount point (its parent went first, or restart's host lacks it): gone either way.
            if (r < 0 && r != -Errno.EINVAL && r != -Errno.ENOENT) throw new SysException("remote umount2 of removed mount " + g.mountPoint() + " in task " + init.tid, (int) -r);
        }
        for (MountRecord m : image.mounts()) {
            if (m == root) continue;
            String target = MountPaths.join(prefix, m.mountPoint());
            switch (m.kind()) {
                case FS -> {
                    long flags = m.flags() & Mount.PER_MOUNT;
                    mount(m.describe(), m.source(), target, m.fsType(), m.tmpfs() ? flags & ~Mount.MS_RDONLY : flags, m.fsOptions().isEmpty() ? null : m.fsOptions());
                    if (m.tmpfs()) TmpfsContents.refill(image, m, "/proc/" + pid + "/root" + target, data);
                    if (m.sbReadOnly()) mount(m.describe(), null, target, null, Mount.MS_REMOUNT | Mount.MS_RDONLY, m.fsOptions().isEmpty() ? null : m.fsOptions());
                    if (m.tmpfs() || m.sbReadOnly()) flags(m, target);
                }
                case BIND -> {
                    mount(m.describe(), m.source(), target, null, Mount.MS_BIND, null);
                    flags(m, target);
                }
                case BIND_INSIDE -> {
                    MountRecord src = image.mount(m.sourceMount());
                    mount(m.describe(), MountPaths.join(prefix, MountPaths.join(src.mountPoint(), m.source())), target, null, Mount.MS_BIND, null);
                    flags(m, target);
                }
                case FLAGS -> flags(m, target);
                case ROOT -> throw new IllegalStateException("a second ROOT");
            }
            if ((m.flags() & Mount.MS_UNBINDABLE) != 0) mount(m.describe(), null, target, null, Mount.MS_UNBINDABLE, null);
        }
        if (root != null) {
            init.syscall("chdir(" + prefix + ")", Nr.CHDIR, init.putString(TARGET, prefix));
            long dot = init.putString(TARGET, ".");
            init.syscall("pivot_root(" + prefix + ")", Nr.PIVOT_ROOT, dot, dot);
            init.syscall("umount2(old root)", Nr.UMOUNT2, dot, Mount.MNT_DETACH);
            init.syscall("chdir(/)", Nr.CHDIR, init.putString(TARGET, "/"));
        }
    }

    /** Everything here would change cryo's own namespace, the host's, if the init were still in it. */
    private void ownNamespace() throws SysException {
        try {
            String mine = java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/ns/mnt")).toString();
            String its = java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/" + pid + "/ns/mnt")).toString();
            if (mine.equals(its)) throw new IllegalStateException("task " + pid + " is in cryo's own mount namespace: its mounts are not made");
        } catch (java.io.IOException e) {
            throw new SysException("readlink(/proc/" + pid + "/ns/mnt)", Errno.ESRCH);
        }
    }

    /** Sets the per-mount flags of the mount at target exactly (a bind remount replaces them all). */
    private void flags(MountRecord m, String target) throws SysException {
        mount(m.describe(), null, target, null, Mount.MS_REMOUNT | Mount.MS_BIND | (m.flags() & Mount.PER_MOUNT), null);
    }

    private void mount(String what, String source, String target, String type, long flags, String options) throws SysException {
        long s = source == null ? 0 : init.putString(SOURCE, source);
        long t = init.putString(TARGET, target);
        long ty = type == null ? 0 : init.putString(TYPE, type);
        long d = options == null ? 0 : init.putString(DATA, options);
        init.syscall("mount of " + what + " at " + target, Nr.MOUNT, s, t, ty, flags, d);
    }
}
