package cryo.memory;

import cryo.sys.ProcFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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
        long start = 0, end = 0, offset = 0, inode = 0;
        String perms = null, path = null;
        for (String line : ProcFile.read("/proc/" + pid + "/smaps").split("\n")) {
            int dash = line.indexOf('-');
            int sp = line.indexOf(' ');
            if (dash > 0 && sp > dash && line.charAt(0) != ' ' && Character.digit(line.charAt(0), 16) >= 0 && !line.contains(":  ") && isHeader(line)) {
                String[] f = line.split("\\s+", 6);
                start = Long.parseUnsignedLong(f[0].substring(0, dash), 16);
                end = Long.parseUnsignedLong(f[0].substring(dash + 1), 16);
                perms = f[1];
                offset = Long.parseUnsignedLong(f[2], 16);
                inode = Long.parseLong(f[4]);
                path = f.length > 5 ? f[5].strip() : "";
            } else if (line.startsWith("VmFlags:")) {
                out.add(new Mapping(start, end, perms, offset, inode, path, List.of(line.substring(8).trim().split("\\s+"))));
            }
        }
        return out;
    }

    private static boolean isHeader(String line) {
        // "start-end perms offset dev inode path": field 2 is 4 chars of rwxps.
        String[] f = line.split("\\s+", 3);
        return f.length >= 2 && f[1].length() == 4 && f[1].matches("[r-][w-][x-][ps]");
    }
}
