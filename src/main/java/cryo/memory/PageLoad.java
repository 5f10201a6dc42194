package cryo.memory;

import cryo.image.DataCheck;
import cryo.image.ImageException;
import cryo.sys.Errno;
import cryo.sys.ProcessVm;
import cryo.sys.SysException;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The restart half of PageMover: process_vm_writev straight from the mapped image into the restored task,
 * spread over several threads.
 */
public final class PageLoad {
    /** Bytes per process_vm_writev at restart: their CRC is checked just before, so they are still in cache. */
    private static final long WRITE_BATCH = 4L << 20;
    private static final int WORKERS = PageMover.WORKERS;

    private PageLoad() {
    }

    /** Bytes of page data in these records. */
    public static long bytes(List<PagesRecord> pages) {
        long n = 0;
        for (PagesRecord p : pages) n += p.data().byteSize();
        return n;
    }

    /**
     * Writes every PAGES record of one task with process_vm_writev from the mapped image, in parallel. Each
     * group first has the CRC of its records' data checked (DataCheck: unless done already, here, so the data
     * come into cache once and are written from there) and then writes them; a mismatch fails the restart.
     * The records are claimed from DataCheck's background thread first: from here on it would only compete
     * with the writers for the CPUs and read each record from memory a second time.
     */
    public static long load(int pid, List<PagesRecord> pages, DataCheck data) throws SysException, IOException, ImageException {
        int n = pages.size();
        data.claim(pages);
        MemorySegment[] locals = new MemorySegment[n];
        long[] addrs = new long[n];
        for (int i = 0; i < n; i++) {
            locals[i] = pages.get(i).data();
            addrs[i] = pages.get(i).addr();
        }
        List<int[]> groups = new ArrayList<>();
        int from = 0;
        long bytes = 0;
        for (int i = 0; i < n; i++) {
            if (i > from && (bytes + locals[i].byteSize() > WRITE_BATCH || i - from == ProcessVm.IOV_MAX)) {
                groups.add(new int[]{from, i - from});
                from = i;
                bytes = 0;
            }
            bytes += locals[i].byteSize();
        }
        if (n > from) groups.add(new int[]{from, n - from});
        long total = 0;
        if (groups.size() <= 1 || WORKERS == 1) {
            for (int[] g : groups) total += writeGroup(pid, pages, data, locals, addrs, g);
            return total;
        }
        try (ExecutorService pool = Executors.newFixedThreadPool(WORKERS, Thread.ofPlatform().name("cryo-page-writer").daemon().factory())) {
            List<Future<Long>> fs = new ArrayList<>();
            for (int[] g : groups) fs.add(pool.submit(() -> writeGroup(pid, pages, data, locals, addrs, g)));
            try {
                for (Future<Long> f : fs) total += PageMover.await(f);
            } finally {
                for (Future<Long> f : fs) f.cancel(false);
            }
        }
        return total;
    }

    private static long writeGroup(int pid, List<PagesRecord> pages, DataCheck data, MemorySegment[] locals, long[] addrs, int[] g)
            throws SysException, ImageException {
        long want = 0;
        for (int i = g[0]; i < g[0] + g[1]; i++) {
            data.verify(pages.get(i));
            want += locals[i].byteSize();
        }
        long done = ProcessVm.writev(pid, locals, addrs, g[0], g[1]);
        if (done != want) {
            throw new SysException("process_vm_writev to task " + pid + " at 0x" + Long.toHexString(addrs[g[0]])
                    + ": wrote " + done + " of " + want + " bytes", Errno.EFAULT);
        }
        Progress.done(done);
        return done;
    }
}
