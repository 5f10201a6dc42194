package cryo.memory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;

/** /proc/PID/smaps as the tests read it: each mapping with its VmFlags, Rss and Pss (kB). */
record Smaps(long start, long end, String perms, long pgoff, long inode, String path, TreeSet<String> vmFlags, long rss, long pss) {

    static List<Smaps> of(long pid) {
        String text;
        try {
            text = Files.readString(Path.of("/proc/" + pid + "/smaps"));
        } catch (IOException e) {
            throw new AssertionError("cannot read /proc/" + pid + "/smaps: " + e, e);
        }
        List<Smaps> out = new ArrayList<>();
        String[] head = null;
        long rss = 0, pss = 0;
        for (String line : text.split("\n")) {
            if (line.matches("^[0-9a-f]+-[0-9a-f]+ [-r][-w][-x][ps] .*")) {
                head = line.trim().split(" +", 6);
            } else if (line.startsWith("Rss:")) {
                rss = kb(line);
            } else if (line.startsWith("Pss:")) {
                pss = kb(line);
            } else if (line.startsWith("VmFlags:") && head != null) {
                String[] r = head[0].split("-");
                out.add(new Smaps(Long.parseUnsignedLong(r[0], 16), Long.parseUnsignedLong(r[1], 16), head[1],
                        Long.parseUnsignedLong(head[2], 16) / 4096, Long.parseLong(head[4]), head.length > 5 ? head[5] : "",
                        new TreeSet<>(Arrays.asList(line.substring(8).trim().split(" +"))), rss, pss));
            }
        }
        return out;
    }

    private static long kb(String line) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
    }

    String range() {
        return Long.toHexString(start) + "-" + Long.toHexString(end);
    }

    @Override
    public String toString() {
        return range() + " " + perms + " pgoff=" + pgoff + " " + path + " [" + String.join(" ", vmFlags) + "]";
    }
}
