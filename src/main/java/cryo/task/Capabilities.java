package cryo.task;

import java.util.ArrayList;
import java.util.List;

/** Capability numbers and names (include/uapi/linux/capability.h), for messages and `cryo check`. */
public final class Capabilities {
    public static final int CHOWN = 0, DAC_OVERRIDE = 1, DAC_READ_SEARCH = 2, KILL = 5, SETGID = 6, SETUID = 7, SETPCAP = 8, IPC_OWNER = 15,
            SYS_PTRACE = 19, SYS_ADMIN = 21, SYS_RESOURCE = 24, CHECKPOINT_RESTORE = 40;

    private static final String[] NAMES = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
            "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
            "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
            "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
            "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
            "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
            "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
            "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"};

    private Capabilities() {
    }

    public static String name(int cap) {
        return cap < NAMES.length ? NAMES[cap] : "capability " + cap;
    }

    /** "CAP_SYS_RESOURCE,CAP_SYS_TIME" for a mask. */
    public static String names(long mask) {
        List<String> out = new ArrayList<>();
        for (int c = 0; c < 64; c++) if ((mask & (1L << c)) != 0) out.add(name(c));
        return String.join(",", out);
    }

    public static boolean has(long set, int cap) {
        return (set & (1L << cap)) != 0;
    }
}
