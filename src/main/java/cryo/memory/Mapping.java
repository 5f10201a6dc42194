package cryo.memory;

import cryo.sys.ProcFile;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** One line of /proc/PID/smaps (proc(5)) with its VmFlags. */
public record Mapping(long start, long end, String perms, long offset, long inode, String path, List<String> vmFlags) {

    public boolean readable() {
        return perms.charAt(0) == 'r';
    }

    public boolean shared() {
        return perms.charAt(3) == 's';
    }

    public int prot() {
        return (perms.charAt(0) == 'r' ? VmaRecord.PROT_READ : 0) | (perms.charAt(1) == 'w' ? VmaRecord.PROT_WRITE : 0)
                | (perms.charAt(2) == 'x' ? VmaRecord.PROT_EXEC : 0);
    }

    public String range() {
        return Long.toHexString(start) + "-" + Long.toHexString(end);
    }

    public static List<Mapping> read(int pid) throws IOException {
        List<Mapping> out = new ArrayList<>();
        String smaps = ProcFile.read("/proc/" + pid + "/smaps");
        long start = 0, end = 0, offset = 0, inode = 0;
        String perms = null, path = null;
        // Parsed by hand, not with regular expressions: this runs in a JVM that has just started.
        for (int at = 0, nl; at < smaps.length(); at = nl + 1) {
            nl = smaps.indexOf('\n', at);
            if (nl < 0) nl = smaps.length();
            String line = smaps.substring(at, nl);
            if (isHeader(line)) {
                // "start-end perms offset dev inode   path", path possibly with spaces
                String[] f = fields(line, 5);
                int dash = f[0].indexOf('-');
                start = Long.parseUnsignedLong(f[0], 0, dash, 16);
                end = Long.parseUnsignedLong(f[0], dash + 1, f[0].length(), 16);
                perms = f[1];
                offset = Long.parseUnsignedLong(f[2], 16);
                inode = Long.parseLong(f[4]);
                path = f[5];
            } else if (line.startsWith("VmFlags:")) {
                out.add(new Mapping(start, end, perms, offset, inode, path, List.of(fields(line.substring(8), 0))));
            }
        }
        return out;
    }

    /**
     * A mapping's header line, not a "Key:   value" line: "start-end" in hex, then perms of 4 chars
     * [r-][w-][x-][ps].
     */
    private static boolean isHeader(String line) {
        int dash = line.indexOf('-'), sp = line.indexOf(' ');
        if (dash <= 0 || sp < dash + 2 || sp + 5 > line.length()) return false;
        for (int i = 0; i < sp; i++) {
            if (i != dash && Character.digit(line.charAt(i), 16) < 0) return false;
        }
        return "r-".indexOf(line.charAt(sp + 1)) >= 0 && "w-".indexOf(line.charAt(sp + 2)) >= 0
                && "x-".indexOf(line.charAt(sp + 3)) >= 0 && "ps".indexOf(line.charAt(sp + 4)) >= 0
                && (sp + 5 == line.length() || line.charAt(sp + 5) == ' ');
    }

    /**
     * Splits on runs of spaces. With n > 0: the first n fields, then the rest of the line stripped (empty if
     * none) as field n; with n = 0: every field.
     */
    private static String[] fields(String line, int n) {
        List<String> f = new ArrayList<>();
        int i = 0, len = line.length();
        while (true) {
            while (i < len && line.charAt(i) == ' ') i++;
            if (n > 0 && f.size() == n) {
                f.add(line.substring(i).strip());
                break;
            }
            if (i >= len) break;
            int j = i;
            while (j < len && line.charAt(j) != ' ') j++;
            f.add(line.substring(i, j));
            i = j;
        }
        if (n > 0) while (f.size() <= n) f.add("");
        return f.toArray(String[]::new);
    }
}
