package cryo.mounts;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;
import cryo.sys.Mount;

import java.util.Set;

/**
 * MOUNT: one mount that restart makes in the container's new mount namespace, in the order they are made.
 * {u32 id; u32 parent; u32 kind; u32 sb_readonly; u64 flags; u32 source_mount; u32 tmpfs_files; u64 tmpfs_bytes;
 * str mount_point; str fs_type; str source; str fs_options}. id and parent are the mount ids at checkpoint
 * (parent 0: a mount the namespace had from its creator). mount_point is a path in the container. source is,
 * by kind: ROOT and BIND the host path; BIND_INSIDE the path within the file system of MOUNT source_mount;
 * FS the name mount(2) is given; FLAGS unused. flags are the per-mount MS_* flags (MS_UNBINDABLE included);
 * sb_readonly marks a tmpfs whose super block is read-only (remounted so after it is filled).
 */
public record MountRecord(int id, int parent, Kind kind, boolean sbReadOnly, long flags, int sourceMount, int tmpfsFiles,
                          long tmpfsBytes, String mountPoint, String fsType, String source, String fsOptions) implements MountsRecord {
    public enum Kind {
        /** The container's / (cryo run --root DIR): DIR bound on itself, then pivot_root into it. */
        ROOT,
        /** A new instance of a file system made inside the container (proc, sysfs, tmpfs, devpts, mqueue). */
        FS,
        /** A bind mount of a host path. */
        BIND,
        /** A bind mount of a part of a file system mounted inside the container (MOUNT source_mount). */
        BIND_INSIDE,
        /** A mount the namespace had from its creator, whose per-mount flags the container changed. */
        FLAGS
    }

    /** File systems that restart can make afresh. */
    public static final Set<String> FS_TYPES = Set.of("proc", "sysfs", "tmpfs", "devpts", "mqueue");
    static final long KNOWN_FLAGS = Mount.PER_MOUNT | Mount.MS_UNBINDABLE;

    public RecordType type() {
        return RecordType.MOUNT;
    }

    public boolean tmpfs() {
        return kind == Kind.FS && fsType.equals("tmpfs");
    }

    /** "/data (bind of /srv/data)", as errors and show name the mount. */
    public String describe() {
        return mountPoint + " (" + switch (kind) {
            case ROOT -> "root, pivot_root into " + source;
            case FS -> fsType + " " + source;
            case BIND -> "bind of " + source;
            case BIND_INSIDE -> "bind of " + source + " of mount " + sourceMount;
            case FLAGS -> "remounted " + Mount.optionsOf(flags);
        } + ")";
    }

    public void encode(Encoder e) {
        e.u32(id).u32(parent).u32(kind.ordinal()).u32(sbReadOnly ? 1 : 0).u64(flags).u32(sourceMount).u32(tmpfsFiles).u64(tmpfsBytes);
        e.str(mountPoint).str(fsType).str(source).str(fsOptions);
    }

    public static MountRecord decode(Decoder d) throws ImageException {
        int id = d.u32("id", 1, Integer.MAX_VALUE);
        int parent = d.u32("parent", 0, Integer.MAX_VALUE);
        Kind kind = Kind.values()[d.u32("kind", 0, Kind.values().length - 1)];
        boolean sbRo = d.u32("sb_readonly", 0, 1) == 1;
        long flags = d.u64("flags");
        if ((flags & ~KNOWN_FLAGS) != 0) throw d.error("flags", "has unknown bits 0x" + Long.toHexString(flags & ~KNOWN_FLAGS));
        int sourceMount = d.u32("source_mount", 0, Integer.MAX_VALUE);
        int files = d.u32("tmpfs_files", 0, Integer.MAX_VALUE);
        long bytes = d.u64("tmpfs_bytes");
        String mp = d.str("mount_point");
        String type = d.str("fs_type");
        String source = d.str("source");
        String options = d.str("fs_options");
        if (!MountPaths.absolute(mp)) throw d.error("mount_point", "'" + mp + "' is not a normal absolute path");
        if (bytes < 0) throw d.error("tmpfs_bytes", "is negative");
        switch (kind) {
            case ROOT -> {
                if (!mp.equals("/")) throw d.error("mount_point", "of a ROOT is '" + mp + "', not /");
                if (!MountPaths.absolute(source) || source.equals("/")) throw d.error("source", "'" + source + "' is not a host directory other than /");
            }
            case FS -> {
                if (!FS_TYPES.contains(type)) throw d.error("fs_type", "'" + type + "' is not one cryo makes (" + String.join(", ", new java.util.TreeSet<>(FS_TYPES)) + ")");
                if (options.contains("\0")) throw d.error("fs_options", "holds a NUL byte");
            }
            case BIND -> {
                if (!MountPaths.absolute(source)) throw d.error("source", "'" + source + "' is not a normal absolute host path");
            }
            case BIND_INSIDE -> {
                if (!MountPaths.absolute(source)) throw d.error("source", "'" + source + "' is not a normal absolute path");
                if (sourceMount == 0) throw d.error("source_mount", "is 0 for a BIND_INSIDE");
            }
            case FLAGS -> {
            }
        }
        if (kind != Kind.BIND_INSIDE && sourceMount != 0) throw d.error("source_mount", "is " + sourceMount + " for a " + kind);
        boolean tmpfs = kind == Kind.FS && type.equals("tmpfs");
        if (!tmpfs && (files != 0 || bytes != 0)) throw d.error("tmpfs_files", "is " + files + " (" + bytes + " bytes) for a mount that is no tmpfs");
        if (tmpfs && files == 0) throw d.error("tmpfs_files", "is 0: a tmpfs has at least its root directory");
        // Only a tmpfs's super block is surely restart's own: sysfs (without a network namespace of its own)
        // shares the host's, which a read-only remount would make read-only for the host too.
        if (sbRo && !tmpfs) throw d.error("sb_readonly", "is set for a mount that is no tmpfs");
        return new MountRecord(id, parent, kind, sbRo, flags, sourceMount, files, bytes, mp, type, source, options);
    }
}
