package cryo.mounts;

import cryo.sys.ProcFile;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * One line of /proc/PID/mountinfo (proc(5)): mount id, parent id, device, the root of the mount within its file
 * system, the mount point (relative to the reading task's root), per-mount options, optional fields
 * (propagation: shared:N, master:N, unbindable), file system type, source and super block options.
 */
record MountInfo(int id, int parent, String device, String root, String mountPoint, String mountOptions,
                 List<String> optional, String fsType, String source, String superOptions) {

    static List<MountInfo> read(String pid) throws IOException {
        List<MountInfo> out = new ArrayList<>();
        for (String line : ProcFile.read("/proc/" + pid + "/mountinfo").split("\n")) {
            if (!line.isEmpty()) out.add(parse(line));
        }
        return out;
    }

    static MountInfo parse(String line) {
        String[] f = line.split(" ");
        int dash = 6;
        while (!f[dash].equals("-")) dash++;
        List<String> optional = List.of(f).subList(6, dash);
        return new MountInfo(Integer.parseInt(f[0]), Integer.parseInt(f[1]), f[2], unescape(f[3]), unescape(f[4]), f[5],
                optional, f[dash + 1], unescape(f[dash + 2]), dash + 3 < f.length ? f[dash + 3] : "");
    }

    /** mountinfo escapes space, tab, newline and backslash as \ooo (fs/proc_namespace.c, mangle()). */
    static String unescape(String s) {
        if (s.indexOf('\\') < 0) return s;
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length()) {
                sb.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    /** The peer group this mount shares events with ("shared:N"), or 0. */
    int sharedGroup() {
        return group("shared:");
    }

    /** The peer group this mount receives events from ("master:N"), or 0. */
    int masterGroup() {
        return group("master:");
    }

    boolean unbindable() {
        return optional.contains("unbindable");
    }

    private int group(String prefix) {
        for (String o : optional) if (o.startsWith(prefix)) return Integer.parseInt(o.substring(prefix.length()));
        return 0;
    }

    /** The MS_* flags of the per-mount options ("rw,nosuid,relatime"). */
    long flags() {
        long flags = 0;
        for (String o : mountOptions.split(",")) {
            long f = cryo.sys.Mount.flagOf(o);
            if (f > 0) flags |= f;
        }
        // mountinfo shows relatime or noatime, and nothing for strictatime (fs/proc_namespace.c, show_mnt_opts())
        if ((flags & (cryo.sys.Mount.MS_RELATIME | cryo.sys.Mount.MS_NOATIME)) == 0) flags |= cryo.sys.Mount.MS_STRICTATIME;
        return flags;
    }

    /** The super block options without rw/ro (the data argument of mount(2)). */
    String fsOptions() {
        StringBuilder sb = new StringBuilder();
        for (String o : superOptions.split(",")) {
            if (o.isEmpty() || o.equals("rw") || o.equals("ro")) continue;
            if (!sb.isEmpty()) sb.append(',');
            sb.append(o);
        }
        return sb.toString();
    }

    /** Mount point, type and source, as a refusal or error names a mount. */
    String describe() {
        return mountPoint + " (" + fsType + " from " + source + ")";
    }
}
