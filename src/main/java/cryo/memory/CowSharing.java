package cryo.memory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.TreeMap;

/**
 * Finds the pages a task still shares copy-on-write with its parent: in a VMA the fork gave it
 * (VmaRecord.inheritableFrom), a page whose frame number in /proc/PID/pagemap (bits 0-54, shown to
 * CAP_SYS_ADMIN, Documentation/admin-guide/mm/pagemap.rst) is the parent's at the same address. Those
 * pages move from the child's pages to save to its inherited runs: restart forks the child from its
 * restored parent, so the pair shares them again instead of holding two copies.
 */
public final class CowSharing {
    private static final long PM_PRESENT = 1L << 63, PFN_MASK = (1L << 55) - 1;
    private static final int CHUNK = 1 << 14;       // pagemap entries read at a time

    private CowSharing() {
    }

    /** dumps by pid (parents before children, every task stopped); parentOf gives each pid's parent. */
    public static void detect(Map<Integer, AddressSpace.Dump> dumps, Map<Integer, Integer> parentOf) throws IOException {
        for (var e : dumps.entrySet()) {
            Integer ppid = parentOf.get(e.getKey());
            AddressSpace.Dump parent = ppid == null ? null : dumps.get(ppid);
            if (parent != null) detect(e.getKey(), e.getValue(), ppid, parent);
        }
    }

    private static void detect(int pid, AddressSpace.Dump child, int ppid, AddressSpace.Dump parent) throws IOException {
        Map<Long, VmaRecord> parentVmas = new TreeMap<>();
        for (VmaRecord v : parent.vmas()) parentVmas.put(v.start(), v);
        TreeMap<Long, VmaRecord> inheritable = new TreeMap<>();
        for (VmaRecord v : child.vmas()) {
            VmaRecord pv = parentVmas.get(v.start());
            if (pv != null && v.inheritableFrom(pv)) inheritable.put(v.start(), v);
        }
        if (inheritable.isEmpty()) return;
        Runs own = new Runs(), shared = new Runs();
        try (FileChannel mine = FileChannel.open(Path.of("/proc/" + pid + "/pagemap"), StandardOpenOption.READ);
             FileChannel theirs = FileChannel.open(Path.of("/proc/" + ppid + "/pagemap"), StandardOpenOption.READ)) {
            ByteBuffer a = ByteBuffer.allocateDirect(CHUNK * 8).order(ByteOrder.LITTLE_ENDIAN);
            ByteBuffer b = ByteBuffer.allocateDirect(CHUNK * 8).order(ByteOrder.LITTLE_ENDIAN);
            Runs pages = child.pages();
            for (int i = 0; i < pages.count; i++) {
                long at = pages.addr[i], end = at + pages.len[i];
                while (at < end) {
                    var floor = inheritable.floorEntry(at);
                    VmaRecord v = floor == null || floor.getValue().end() <= at ? null : floor.getValue();
                    if (v == null) {
                        // up to the next inheritable VMA, if it starts inside this run
                        var next = inheritable.higherEntry(at);
                        long to = next == null ? end : Math.min(end, next.getKey());
                        own.add(at, to - at);
                        at = to;
                        continue;
                    }
                    long to = Math.min(end, Math.min(v.end(), at + (long) CHUNK * Vmas.PAGE));
                    int n = (int) ((to - at) / Vmas.PAGE);
                    read(mine, a, at, n);
                    read(theirs, b, at, n);
                    for (int k = 0; k < n; k++) {
                        long x = a.getLong(k * 8), y = b.getLong(k * 8);
                        boolean same = (x & PM_PRESENT) != 0 && (y & PM_PRESENT) != 0 && (x & PFN_MASK) != 0 && (x & PFN_MASK) == (y & PFN_MASK);
                        (same ? shared : own).add(at + k * Vmas.PAGE, Vmas.PAGE);
                    }
                    at = to;
                }
            }
        }
        child.pages().replaceWith(own);
        child.inherited().replaceWith(shared);
    }

    private static void read(FileChannel pagemap, ByteBuffer buf, long addr, int pages) throws IOException {
        buf.clear().limit(pages * 8);
        long pos = addr / Vmas.PAGE * 8;
        while (buf.hasRemaining()) {
            if (pagemap.read(buf, pos + buf.position()) <= 0) throw new IOException("short read of pagemap at " + Vmas.hex(addr));
        }
    }
}
