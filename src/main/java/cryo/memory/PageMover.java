package cryo.memory;

import cryo.image.ImageWriter;
import cryo.sys.Errno;
import cryo.sys.ProcessVm;
import cryo.sys.SysException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Moves page contents in bulk: at checkpoint, process_vm_readv with up to IOV_MAX ranges per call into
 * off-heap buffers, one thread reading while the caller writes the previous buffer to the image; at
 * restart, process_vm_writev straight from the mapped image, spread over several threads. Pages that
 * cannot be read that way (PROT_NONE) go through /proc/PID/mem.
 */
public final class PageMover {
    private static final long BUFFER = 8L << 20;
    private static final long WRITE_BATCH = 64L << 20;
    private static final int THREADS = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));

    private PageMover() {
    }

    private record Batch(int from, int count, long bytes, boolean viaMem) {
    }

    private static List<Batch> batches(Runs runs, boolean viaMem) {
        List<Batch> out = new ArrayList<>();
        int from = 0;
        long bytes = 0;
        for (int i = 0; i < runs.count; i++) {
            if (i > from && (bytes + runs.len[i] > BUFFER || i - from == ProcessVm.IOV_MAX)) {
                out.add(new Batch(from, i - from, bytes, viaMem));
                from = i;
                bytes = 0;
            }
            bytes += runs.len[i];
        }
        if (runs.count > from) out.add(new Batch(from, runs.count - from, bytes, viaMem));
        return out;
    }

    /** Reads the runs of pid and writes one PAGES record per run, reading the next buffer while writing one. */
    public static void dump(int pid, Runs readable, Runs unreadable, ImageWriter out) throws IOException, SysException {
        Runs r = readable.split(BUFFER), u = unreadable.split(BUFFER);
        List<Batch> batches = batches(r, false);
        batches.addAll(batches(u, true));
        if (batches.isEmpty()) return;
        try (Arena arena = Arena.ofShared();
             FileChannel mem = FileChannel.open(Path.of("/proc/" + pid + "/mem"), StandardOpenOption.READ);
             ExecutorService reader = Executors.newSingleThreadExecutor(Thread.ofPlatform().name("cryo-page-reader").daemon().factory())) {
            MemorySegment[] bufs = {arena.allocate(BUFFER, 4096), arena.allocate(BUFFER, 4096)};
            Future<?> pending = reader.submit(() -> fill(pid, mem, runsOf(batches.getFirst(), r, u), batches.getFirst(), bufs[0]));
            long waited = 0, writing = 0;
            for (int i = 0; i < batches.size(); i++) {
                long w0 = System.nanoTime();
                await(pending);
                waited += System.nanoTime() - w0;
                Batch b = batches.get(i);
                if (i + 1 < batches.size()) {
                    Batch next = batches.get(i + 1);
                    MemorySegment nb = bufs[(i + 1) % 2];
                    pending = reader.submit(() -> fill(pid, mem, runsOf(next, r, u), next, nb));
                }
                Runs runs = runsOf(b, r, u);
                long off = 0, w1 = System.nanoTime();
                for (int k = b.from; k < b.from + b.count; k++) {
                    out.writePages(pid, runs.addr[k], bufs[i % 2].asSlice(off, runs.len[k]));
                    off += runs.len[k];
                }
                writing += System.nanoTime() - w1;
            }
            cryo.checkpoint.Timings.note("pages of " + pid + ": waiting for reads " + waited / 1_000_000 + " ms, writing " + writing / 1_000_000 + " ms");
        }
    }

    private static Runs runsOf(Batch b, Runs readable, Runs unreadable) {
        return b.viaMem ? unreadable : readable;
    }

    private static Void fill(int pid, FileChannel mem, Runs runs, Batch b, MemorySegment buf) throws SysException, IOException {
        long got = b.viaMem ? 0 : ProcessVm.readv(pid, buf, runs.addr, runs.len, b.from, b.count);
        if (got == b.bytes) return null;
        // A range faulted (or the mapping is unreadable): the rest comes through /proc/PID/mem, which
        // reads with FOLL_FORCE.
        long off = 0;
        for (int k = b.from; k < b.from + b.count; k++) {
            long end = off + runs.len[k];
            if (end > got) {
                long skip = Math.max(0, got - off);
                ByteBuffer bb = buf.asSlice(off + skip, runs.len[k] - skip).asByteBuffer();
                long pos = runs.addr[k] + skip;
                while (bb.hasRemaining()) {
                    int n = mem.read(bb, pos);
                    if (n <= 0) throw new SysException("read of /proc/" + pid + "/mem at 0x" + Long.toHexString(pos), Errno.EIO);
                    pos += n;
                }
            }
            off = end;
        }
        return null;
    }

    private static void await(Future<?> f) throws IOException, SysException {
        try {
            f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        } catch (java.util.concurrent.ExecutionException e) {
            switch (e.getCause()) {
                case SysException s -> throw s;
                case IOException io -> throw io;
                case RuntimeException re -> throw re;
                default -> throw new IOException(e.getCause());
            }
        }
    }

    /** Writes every PAGES record of one task with process_vm_writev from the mapped image, in parallel. */
    public static long load(int pid, List<PagesRecord> pages) throws SysException, IOException {
        int n = pages.size();
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
        if (groups.size() <= 1 || THREADS == 1) {
            for (int[] g : groups) total += writeGroup(pid, locals, addrs, g);
            return total;
        }
        try (ExecutorService pool = Executors.newFixedThreadPool(THREADS, Thread.ofPlatform().name("cryo-page-writer").daemon().factory())) {
            List<Future<Long>> fs = new ArrayList<>();
            for (int[] g : groups) fs.add(pool.submit(() -> writeGroup(pid, locals, addrs, g)));
            for (Future<Long> f : fs) {
                try {
                    total += f.get();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted");
                } catch (java.util.concurrent.ExecutionException e) {
                    if (e.getCause() instanceof SysException s) throw s;
                    throw new IOException(e.getCause());
                }
            }
        }
        return total;
    }

    private static long writeGroup(int pid, MemorySegment[] locals, long[] addrs, int[] g) throws SysException {
        long want = 0;
        for (int i = g[0]; i < g[0] + g[1]; i++) want += locals[i].byteSize();
        long done = ProcessVm.writev(pid, locals, addrs, g[0], g[1]);
        if (done != want) {
            throw new SysException("process_vm_writev to task " + pid + " at 0x" + Long.toHexString(addrs[g[0]])
                    + ": wrote " + done + " of " + want + " bytes", Errno.EFAULT);
        }
        return done;
    }
}
