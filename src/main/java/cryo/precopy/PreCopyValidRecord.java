package cryo.precopy;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;
import cryo.image.Tree;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * PRECOPY_VALID: {u32 pid; u32 source; u64[] ranges}, in the final state of process pid (its pid in the
 * image): the ranges {start, length} whose pages are the latest PRECOPY_PAGES copy of task `source` (its pid
 * when the rounds were copied) — pages the checkpoint found unchanged since. They are sorted, page aligned and
 * do not overlap; the process's PAGES records hold the rest.
 */
public record PreCopyValidRecord(int pid, int source, long[] ranges) implements PreCopyRecord {
    private static final int PAGE = 4096, MAX_LONGS = 1 << 24;

    public RecordType type() {
        return RecordType.PRECOPY_VALID;
    }

    public int count() {
        return ranges.length / 2;
    }

    public long start(int i) {
        return ranges[2 * i];
    }

    public long length(int i) {
        return ranges[2 * i + 1];
    }

    public long bytes() {
        long n = 0;
        for (int i = 0; i < count(); i++) n += length(i);
        return n;
    }

    public void encode(Encoder e) {
        e.u32(pid).u32(source).longs(ranges);
    }

    public static PreCopyValidRecord decode(Decoder d) throws ImageException {
        int pid = d.u32("pid", 1, Tree.PID_MAX_LIMIT);
        int source = d.u32("source", 1, Tree.PID_MAX_LIMIT);
        long[] r = d.longs("ranges", MAX_LONGS);
        if (r.length == 0 || r.length % 2 != 0) throw d.error("ranges", "has " + r.length + " numbers, not a non-empty list of {start, length} pairs");
        long end = 0;
        for (int i = 0; i < r.length; i += 2) {
            long s = r[i], n = r[i + 1];
            String at = "range " + i / 2 + " (0x" + Long.toHexString(s) + ", " + n + " bytes)";
            if ((s & (PAGE - 1)) != 0 || n <= 0 || (n & (PAGE - 1)) != 0) throw d.error("ranges", at + " is not a run of whole pages");
            if (s < end) throw d.error("ranges", at + " overlaps or precedes the range before it");
            if (s + n > cryo.memory.Vmas.TASK_SIZE || s + n < s) throw d.error("ranges", at + " ends outside user space");
            end = s + n;
        }
        return new PreCopyValidRecord(pid, source, r);
    }

    public Map<String, Object> fields() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("pid", pid);
        m.put("source", source);
        m.put("ranges", count());
        m.put("pages", bytes() / PAGE);
        List<String> first = new ArrayList<>();
        for (int i = 0; i < Math.min(count(), 8); i++) first.add("0x" + Long.toHexString(start(i)) + "+" + length(i) / PAGE);
        if (count() > 8) first.add("...");
        m.put("runs", String.join(" ", first));
        return m;
    }
}
