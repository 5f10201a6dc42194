package cryo.precopy;

import cryo.image.ImageWriter;
import cryo.sys.ProcessVm;
import cryo.sys.SysException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Copies pages of a running task into PRECOPY_PAGES records: process_vm_readv of up to IOV_MAX runs at a time
 * into one buffer, one record per run. The task may unmap what it is being copied from meanwhile: what cannot
 * be read is left out (it is not marked copied, so the final state takes it if it is still there).
 */
final class RoundCopier implements AutoCloseable {
    private static final long BUFFER = 2L << 20, PAGE = 4096;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment buf = arena.allocate(BUFFER, PAGE);

    /** Copies the pages of `pages` from pid into out; adds to copied those it could read. Returns the bytes copied. */
    long copy(int pid, PageSet pages, ImageWriter out, PageSet copied) throws IOException {
        List<long[]> runs = new ArrayList<>();
        pages.forEach((s, e) -> {
            for (long a = s; a < e; a += BUFFER) runs.add(new long[]{a, Math.min(e, a + BUFFER)});
        });
        long done = 0;
        int from = 0;
        while (from < runs.size()) {
            int n = 0;
            long bytes = 0;
            while (from + n < runs.size() && n < ProcessVm.IOV_MAX && bytes + len(runs.get(from + n)) <= BUFFER) bytes += len(runs.get(from + n++));
            done += batch(pid, runs.subList(from, from + n), out, copied);
            from += n;
        }
        return done;
    }

    private static long len(long[] r) {
        return r[1] - r[0];
    }

    private long batch(int pid, List<long[]> runs, ImageWriter out, PageSet copied) throws IOException {
        MemorySegment[] slots = new MemorySegment[runs.size()];
        long[] addrs = new long[runs.size()];
        long off = 0;
        for (int i = 0; i < slots.length; i++) {
            addrs[i] = runs.get(i)[0];
            slots[i] = buf.asSlice(off, len(runs.get(i)));
            off += slots[i].byteSize();
        }
        long got;
        try {
            got = ProcessVm.readv(pid, slots, addrs, 0, slots.length);
        } catch (SysException e) {
            got = 0;                 // the first run is gone: each run is tried alone below
        }
        long seen = 0, done = 0;
        for (int i = 0; i < slots.length; i++) {
            long len = slots[i].byteSize(), ok = Math.max(0, Math.min(len, got - seen));
            seen += len;
            if (ok < len) {
                try {
                    ok = ProcessVm.read(pid, slots[i], addrs[i]);
                } catch (SysException e) {
                    ok = 0;          // unmapped since the scan
                }
            }
            ok &= ~(PAGE - 1);
            if (ok == 0) continue;
            out.write(new PreCopyPagesRecord(pid, addrs[i], 0, slots[i].asSlice(0, ok), true));
            copied.add(addrs[i], addrs[i] + ok);
            done += ok;
        }
        return done;
    }

    @Override
    public void close() {
        arena.close();
    }
}
