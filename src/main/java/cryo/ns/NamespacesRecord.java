package cryo.ns;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;

import java.nio.charset.StandardCharsets;
import java.util.EnumSet;
import java.util.Set;

/**
 * NAMESPACES: the tree is a container, its root the init (pid 1) of a pid namespace of its own; `own` lists
 * the namespaces it had of its own (pid always; ipc, uts, mnt, net when they were not cryo's), which
 * restart creates afresh with clone3. The host name and NIS domain name of its UTS namespace (empty when it
 * shared cryo's); loopbackUp: its network namespace's lo was up (false when it shared cryo's).
 */
public record NamespacesRecord(Set<Namespace> own, String hostname, String domainname, boolean loopbackUp) implements ImageRecord {
    /** What a container may have of its own: cryo recreates these. */
    public static final Set<Namespace> RECREATED = EnumSet.of(Namespace.PID, Namespace.IPC, Namespace.UTS, Namespace.MNT, Namespace.NET);
    /** __NEW_UTS_LEN (include/uapi/linux/utsname.h). */
    public static final int NAME_MAX = 64;

    public NamespacesRecord {
        own = own.isEmpty() ? EnumSet.noneOf(Namespace.class) : EnumSet.copyOf(own);
    }

    public boolean has(Namespace ns) {
        return own.contains(ns);
    }

    /** The CLONE_NEW* flags that recreate them. */
    public long cloneFlags() {
        long f = 0;
        for (Namespace ns : own) f |= ns.cloneFlag;
        return f;
    }

    public RecordType type() {
        return RecordType.NAMESPACES;
    }

    public void encode(Encoder e) {
        e.u32((int) cloneFlags()).str(hostname).str(domainname).u32(loopbackUp ? 1 : 0);
    }

    public static NamespacesRecord decode(Decoder d) throws ImageException {
        int flags = d.u32("namespaces");
        Set<Namespace> own = EnumSet.noneOf(Namespace.class);
        int known = 0;
        for (Namespace ns : RECREATED) {
            known |= ns.cloneFlag;
            if ((flags & ns.cloneFlag) != 0) own.add(ns);
        }
        if ((flags & ~known) != 0) throw d.error("namespaces", "0x" + Integer.toHexString(flags) + " has bits of no namespace cryo recreates (pid, ipc, uts, mnt, net)");
        if (!own.contains(Namespace.PID)) throw d.error("namespaces", "0x" + Integer.toHexString(flags) + " lacks the pid namespace: a container is the init of one");
        String hostname = name(d, "hostname", own.contains(Namespace.UTS));
        String domainname = name(d, "domainname", own.contains(Namespace.UTS));
        int lo = d.u32("loopback_up", 0, 1);
        if (lo == 1 && !own.contains(Namespace.NET)) throw d.error("loopback_up", "is 1 without a network namespace of its own");
        return new NamespacesRecord(own, hostname, domainname, lo == 1);
    }

    private static String name(Decoder d, String field, boolean ownUts) throws ImageException {
        String s = d.str(field);
        if (s.getBytes(StandardCharsets.UTF_8).length > NAME_MAX) throw d.error(field, "is longer than " + NAME_MAX + " bytes");
        if (s.indexOf('\0') >= 0) throw d.error(field, "holds a NUL byte");
        if (!ownUts && !s.isEmpty()) throw d.error(field, "is set without a UTS namespace of its own");
        return s;
    }
}
