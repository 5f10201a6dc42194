package cryo.sys;

import java.lang.foreign.Arena;

/**
 * mount(2), umount2(2) and pivot_root(2) in cryo's own process, and their flags (linux/mount.h). The container
 * init makes its mounts by remote calls with the same numbers and flags (cryo.mounts).
 */
public final class Mount {
    public static final long MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_REMOUNT = 32,
            MS_NOSYMFOLLOW = 256, MS_NOATIME = 1024, MS_NODIRATIME = 2048, MS_BIND = 4096, MS_REC = 16384,
            MS_UNBINDABLE = 1 << 17, MS_PRIVATE = 1 << 18, MS_SLAVE = 1 << 19, MS_SHARED = 1 << 20,
            MS_RELATIME = 1 << 21, MS_STRICTATIME = 1 << 24;
    /** The per-mount flags a bind remount can change (the rest belong to the superblock). */
    public static final long PER_MOUNT = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOSYMFOLLOW | MS_NOATIME
            | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME;
    public static final int MNT_DETACH = 2;

    private Mount() {
    }

    /** mount(2); null source, fstype or data pass NULL. */
    public static void mount(String source, String target, String fstype, long flags, String data) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            Native.check(Native.raw(Nr.MOUNT, str(a, source), a.allocateFrom(target).address(), str(a, fstype), flags, str(a, data)),
                    "mount(" + (source == null ? "none" : source) + ", " + target + ", " + fstype + ", 0x" + Long.toHexString(flags) + ")");
        }
    }

    /** umount2(2). */
    public static void umount2(String target, int flags) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            Native.check(Native.raw(Nr.UMOUNT2, a.allocateFrom(target).address(), flags), "umount2(" + target + ")");
        }
    }

    private static long str(Arena a, String s) {
        return s == null ? 0 : a.allocateFrom(s).address();
    }

    /** The flag bit of a per-mount option as /proc/PID/mountinfo shows it ("nosuid"), or -1 if it is not one. */
    public static long flagOf(String option) {
        return switch (option) {
            case "ro" -> MS_RDONLY;
            case "rw" -> 0;
            case "nosuid" -> MS_NOSUID;
            case "nodev" -> MS_NODEV;
            case "noexec" -> MS_NOEXEC;
            case "nosymfollow" -> MS_NOSYMFOLLOW;
            case "noatime" -> MS_NOATIME;
            case "nodiratime" -> MS_NODIRATIME;
            case "relatime" -> MS_RELATIME;
            case "strictatime" -> MS_STRICTATIME;
            default -> -1;
        };
    }

    /** The options of flags in mountinfo's spelling: "ro,nosuid,relatime". */
    public static String optionsOf(long flags) {
        StringBuilder sb = new StringBuilder((flags & MS_RDONLY) != 0 ? "ro" : "rw");
        String[] names = {"nosuid", "nodev", "noexec", "nosymfollow", "noatime", "nodiratime", "relatime", "strictatime"};
        long[] bits = {MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_NOSYMFOLLOW, MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME};
        for (int i = 0; i < names.length; i++) if ((flags & bits[i]) != 0) sb.append(',').append(names[i]);
        return sb.toString();
    }
}
