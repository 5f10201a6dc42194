package cryo.memory;

import cryo.image.Crc32c;
import cryo.image.ImageException;
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
 * Moves page contents in bulk at checkpoint: process_vm_readv with up to IOV_MAX ranges per call into
 * off-heap buffers, several threads reading and writing batches to the image. Pages that cannot be read
 * that way (PROT_NONE) go through /proc/PID/mem. The restart half is PageLoad.
 */
public final class PageMover {
    private static final long BUFFER = 2L << 20;

    private PageMover() {
    }

    private static int workers() {
        String env = System.getenv("CRYO_PAGE_WORKERS");
        if (env != null && env.matches("[1-9][0-9]?")) return Integer.parseInt(env);
        return Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));
    }

    /** Runs [from, from+count) of one Runs, moved as one piece of the stream: their PAGES records back to back. */
    private record Batch(Runs runs, int from, int count, long dataBytes, boolean viaMem) {
        long streamBytes() {
            return dataBytes + (long) count * RECORD_HEADER;
        }
    }

    /** {u32 type; u32 len} then PAGES' own {u32 pid; u32 pad; u64 addr}. */
    private static final int RECORD_HEADER = 8 + PagesRecord.HEADER;
    /** Page threads per direction: CRYO_PAGE_WORKERS overrides (1 = one batch at a time, for comparison). */
    static final int WORKERS = workers();
    private static final int IN_FLIGHT = 2 * WORKERS;

    private static List<Batch> batches(Runs runs, boolean viaMem) {
        List<Batch> out = new ArrayList<>();
        int from = 0;
        long bytes = 0;
        for (int i = 0; i < runs.count; i++) {
            if (i > from && (bytes + runs.len[i] > BUFFER || i - from == ProcessVm.IOV_MAX)) {
                out.add(new Batch(runs, from, i - from, bytes, viaMem));
                from = i;
                bytes = 0;
            }
            bytes += runs.len[i];
        }
        if (runs.count > from) out.add(new Batch(runs, from, runs.count - from, bytes, viaMem));
        return out;
    }

    /**
     * Streams the runs of pid as PAGES records. Each batch is assembled in an off-heap buffer exactly as it
     * will stand in the image — process_vm_readv scatters the pages between the record headers — and
     * checksummed while it is still in cache, by WORKERS threads in parallel. Into a regular file the workers
     * also write their batch at a position reserved in stream order; into a pipe the caller writes batches
     * in order. The CRCs are folded into the image's in stream order either way. imagePid: the pid the
     * records name (the task's pid in its container; pid itself for a plain tree).
     */
    public static void dump(int pid, int imagePid, Runs readable, Runs unreadable, ImageWriter out) throws IOException, SysException {
        List<Batch> batches = batches(readable.split(BUFFER), false);
        batches.addAll(batches(unreadable.split(BUFFER), true));
        if (batches.isEmpty()) return;
        // Buffers as large as the largest batch, and no more of them or of threads than batches: a small
        // process's few pages should not pay for zeroing 8 MiB of buffers.
        long bufSize = batches.stream().mapToLong(Batch::streamBytes).max().orElse(0);
        int inFlight = Math.min(IN_FLIGHT, batches.size());
        try (Arena arena = Arena.ofShared();
             FileChannel mem = FileChannel.open(Path.of("/proc/" + pid + "/mem"), StandardOpenOption.READ);
             ExecutorService workers = Executors.newFixedThreadPool(Math.min(WORKERS, batches.size()),
                     Thread.ofPlatform().name("cryo-page-reader").daemon().factory())) {
            java.util.concurrent.BlockingQueue<MemorySegment> free = new java.util.concurrent.ArrayBlockingQueue<>(inFlight);
            for (int i = 0; i < inFlight; i++) free.add(arena.allocate(bufSize, 4096));
            java.util.ArrayDeque<Object[]> pending = new java.util.ArrayDeque<>();   // {Future<Integer>, Batch, buffer}
            for (Batch b : batches) {
                if (pending.size() == inFlight) complete(pending.poll(), out, free);
                MemorySegment buf = take(free);
                long pos = out.seekable() ? out.reserve(b.streamBytes()) : -1;
                Future<Integer> crc = workers.submit(() -> {
                    int c = assemble(pid, imagePid, mem, b, buf);
                    if (pos >= 0) out.writeAt(buf.asSlice(0, b.streamBytes()).asByteBuffer(), pos);
                    return c;
                });
                pending.add(new Object[]{crc, b, buf, pos});
            }
            while (!pending.isEmpty()) complete(pending.poll(), out, free);
        }
    }

    private static void complete(Object[] p, ImageWriter out, java.util.concurrent.BlockingQueue<MemorySegment> free) throws IOException, SysException {
        @SuppressWarnings("unchecked") Future<Integer> crc = (Future<Integer>) p[0];
        Batch b = (Batch) p[1];
        MemorySegment buf = (MemorySegment) p[2];
        int c;
        try {
            c = await(crc);
        } catch (ImageException e) {
            throw new AssertionError(e);        // only restart checks image data
        }
        if ((long) p[3] < 0) out.writeUnsummed(buf.asSlice(0, b.streamBytes()).asByteBuffer());
        out.fold(c, (long) b.count * RECORD_HEADER);
        free.add(buf);
        Progress.done(b.dataBytes);
    }

    private static MemorySegment take(java.util.concurrent.BlockingQueue<MemorySegment> free) throws IOException {
        try {
            return free.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        }
    }

    /**
     * Lays out the batch's PAGES records in buf, pages read straight into place, each header with the CRC32C
     * of its data; returns the CRC32C of the headers, the part of the batch the TAIL checksum covers.
     */
    private static int assemble(int pid, int imagePid, FileChannel mem, Batch b, MemorySegment buf) throws SysException, IOException {
        Runs runs = b.runs;
        MemorySegment[] slots = new MemorySegment[b.count];
        long off = 0;
        for (int i = 0; i < b.count; i++) {
            int k = b.from + i;
            MemorySegment h = buf.asSlice(off, RECORD_HEADER);
            h.set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 0, cryo.image.RecordType.PAGES.code);
            h.set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 4, (int) (PagesRecord.HEADER + runs.len[k]));
            h.set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 8, imagePid);
            h.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 16, runs.addr[k]);
            slots[i] = buf.asSlice(off + RECORD_HEADER, runs.len[k]);
            off += RECORD_HEADER + runs.len[k];
        }
        long got = b.viaMem ? 0 : ProcessVm.readv(pid, slots, java.util.Arrays.copyOfRange(runs.addr, b.from, b.from + b.count), 0, b.count);
        if (got < b.dataBytes) {
            // A range faulted (or the mapping is unreadable): the rest comes through /proc/PID/mem, which
            // reads with FOLL_FORCE.
            long seen = 0;
            for (int i = 0; i < b.count; i++) {
                long len = slots[i].byteSize(), skip = Math.max(0, Math.min(len, got - seen));
                seen += len;
                ByteBuffer bb = slots[i].asSlice(skip).asByteBuffer();
                long at = runs.addr[b.from + i] + skip;
                while (bb.hasRemaining()) {
                    int n = mem.read(bb, at);
                    if (n <= 0) throw new SysException("read of /proc/" + pid + "/mem at 0x" + Long.toHexString(at), Errno.EIO);
                    at += n;
                }
            }
        }
        // Each record's header gets the CRC of its data; the TAIL checksum covers the headers only (PayloadRecord).
        java.util.zip.CRC32C headers = new java.util.zip.CRC32C();
        long at = 0;
        for (int i = 0; i < b.count; i++) {
            buf.set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, at + 12, Crc32c.of(slots[i]));
            headers.update(buf.asSlice(at, RECORD_HEADER).asByteBuffer());
            at += RECORD_HEADER + slots[i].byteSize();
        }
        return (int) headers.getValue();
    }

    static <T> T await(Future<T> f) throws IOException, SysException, ImageException {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        } catch (java.util.concurrent.ExecutionException e) {
            switch (e.getCause()) {
                case SysException s -> throw s;
                case ImageException ie -> throw ie;
                case IOException io -> throw io;
                case RuntimeException re -> throw re;
                default -> throw new IOException(e.getCause());
            }
        }
    }
}
