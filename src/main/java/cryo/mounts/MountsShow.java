package cryo.mounts;

import cryo.sys.Mount;

import java.util.LinkedHashMap;
import java.util.Map;

/** The fields `cryo show` prints for the mount records. */
public final class MountsShow {
    private MountsShow() {
    }

    public static Map<String, Object> fields(MountsRecord r) {
        Map<String, Object> m = new LinkedHashMap<>();
        switch (r) {
            case MountRecord mr -> {
                m.put("id", mr.id());
                if (mr.parent() != 0) m.put("parent", mr.parent());
                m.put("kind", mr.kind().toString());
                m.put("mount_point", mr.mountPoint());
                m.put("fs_type", mr.fsType());
                if (mr.kind() == MountRecord.Kind.BIND_INSIDE) m.put("source_mount", mr.sourceMount());
                if (!mr.source().isEmpty()) m.put("source", mr.source());
                m.put("options", Mount.optionsOf(mr.flags()) + ((mr.flags() & Mount.MS_UNBINDABLE) != 0 ? ",unbindable" : ""));
                if (!mr.fsOptions().isEmpty()) m.put("fs_options", mr.fsOptions());
                if (mr.sbReadOnly()) m.put("sb_readonly", true);
                if (mr.tmpfs()) {
                    m.put("tmpfs_files", mr.tmpfsFiles());
                    m.put("tmpfs_bytes", mr.tmpfsBytes());
                }
            }
            case MountGoneRecord g -> m.put("mount_point", g.mountPoint());
            case TmpfsFileRecord f -> {
                m.put("mount", f.mount());
                m.put("index", f.index());
                m.put("kind", f.kind().toString());
                m.put("path", f.path().isEmpty() ? "/" : f.path());
                if (!f.target().isEmpty()) m.put("target", f.target());
                m.put("mode", "0" + Integer.toOctalString(f.mode()));
                m.put("owner", f.uid() + ":" + f.gid());
                if (f.kind() == TmpfsFileRecord.Kind.FILE) {
                    m.put("size", f.size());
                    m.put("data_bytes", f.dataBytes());
                }
                m.put("mtime", java.time.Instant.ofEpochSecond(0, f.mtimeNanos()).toString());
            }
            case TmpfsDataRecord d -> {
                m.put("file", d.file());
                m.put("offset", d.offset());
                m.put("bytes", d.data().byteSize());
                m.put("crc32c", "0x" + Integer.toHexString(d.crc()));
            }
        }
        return m;
    }
}
