package cryo.precopy;

import cryo.checkpoint.FrozenTree;
import cryo.checkpoint.Output;
import cryo.checkpoint.Timings;
import cryo.image.ImageWriter;
import cryo.image.Refusal;
import cryo.memory.AddressSpace;
import cryo.memory.Mapping;
import cryo.memory.Runs;
import cryo.memory.TaskUserfaultfd;
import cryo.remote.GuardedScratch;
import cryo.remote.Tracee;
import cryo.sys.Fd;
import cryo.sys.PagemapScan;
import cryo.sys.SysException;
import cryo.sys.Userfaultfd;
import cryo.task.ProcStat;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * Pre-copy (checkpoint --pre-copy): the private anonymous memory of the tree is copied while it runs, in
 * rounds, and only what was written since the last round is copied while it is frozen.
 *
 * Round 0 stops the tree just long enough to make a userfaultfd in each process (TaskUserfaultfd: cryo holds
 * the only reference) with asynchronous write-protection (UFFD_FEATURE_WP_ASYNC: a write to a protected page
 * only clears its uffd-wp bit, nobody is waited for). With the tree running again, cryo registers each private
 * anonymous VMA for WP, then one PAGEMAP_SCAN with PM_SCAN_WP_MATCHING reports the present pages and
 * write-protects them in the same walk, and they are copied. Each later round does the same for the pages
 * written since (PAGE_IS_WRITTEN: present or swapped without the uffd-wp bit). Pages that were not present are
 * not protected, so a page created later (first touch, after MADV_DONTNEED, by CoW) is never protected: written.
 *
 * A page's latest copy is valid in the image only if, at the final freeze, it is still present, was not
 * written since, and its VMA still shows "uw" in VmFlags: cryo registers only before round 0 copies anything,
 * and a registration does not survive munmap, mremap (no UFFD_FEATURE_EVENT_REMAP), fork (no EVENT_FORK) or
 * exec, so such VMAs are taken whole at the final freeze. Private file mappings are not pre-copied: after
 * MADV_DONTNEED the kernel leaves a uffd-wp marker there, and a write fault through it fills a new page with
 * the file's contents still write-protected (mm/memory.c set_pte_range) until the write is retried, so a
 * freeze in between would take a stale copy for good.
 *
 * At the final freeze (frozen()) the written pages are found; the checkpoint then reads the maps through
 * ownMaps(), which hides cryo's own registration (neither refused nor saved). Once the image is written and the
 * tree released or killed, close() closes every userfaultfd, which unregisters each range and clears each
 * protection (fs/userfaultfd.c userfaultfd_release) — on every path, failures included; cryo's death does it too.
 */
public final class PreCopy implements AutoCloseable {
    public static final int DEFAULT_ROUNDS = 4;
    /** A round that found no more written than this ends the pre-copy. */
    private static final long SMALL = 1L << 20;
    private static final long FEATURES = Userfaultfd.FEATURE_WP_ASYNC | Userfaultfd.FEATURE_WP_UNPOPULATED;

    /** One process followed through the rounds. */
    private static final class Tracked {
        final int pid;
        int uffd, pagemap = -1;
        final List<Mapping> maps;
        final PageSet registered = new PageSet(), copied = new PageSet();

        Tracked(int pid, int uffd, List<Mapping> maps) {
            this.pid = pid;
            this.uffd = uffd;
            this.maps = maps;
        }

        void close() {
            if (uffd >= 0) Fd.close(uffd);
            if (pagemap >= 0) Fd.close(pagemap);
            uffd = pagemap = -1;
        }
    }

    private final ImageWriter writer;
    private final Consumer<String> log;
    private final Map<Integer, Tracked> tracked = new LinkedHashMap<>();
    /** After frozen(): per host pid, the pages whose latest copy is still valid. */
    private final Map<Integer, PageSet> trusted = new HashMap<>();
    private final RoundCopier copier = new RoundCopier();
    private int round;
    private long copiedBytes;

    private PreCopy(ImageWriter writer, Consumer<String> log) {
        this.writer = writer;
        this.log = log;
    }

    /**
     * Runs up to `rounds` rounds on the tree under root, writing them into the output's stream as they are
     * copied, and returns with the tree running and its writes tracked. Nothing is left in the tree if it fails.
     */
    public static PreCopy run(int root, ProcStat stat, int rounds, Output output, Consumer<String> log)
            throws Refusal, SysException, IOException {
        PreCopy pc = new PreCopy(new ImageWriter(output.open(), output.seekable()), log);
        boolean ok = false;
        try {
            pc.start(root, stat);
            long dirty = pc.round(true);
            for (int k = 1; k < rounds && dirty > SMALL; k++) dirty = pc.round(false);
            ok = true;
            return pc;
        } finally {
            if (!ok) pc.release();
        }
    }

    /** The writer the rest of the image goes through: the rounds are already in it. */
    public ImageWriter writer() {
        return writer;
    }

    public long copiedBytes() {
        return copiedBytes;
    }

    /** Round 0's brief stop: a userfaultfd in each process of the tree. */
    private void start(int root, ProcStat stat) throws Refusal, SysException, IOException {
        FrozenTree tree = FrozenTree.freeze(root, stat);
        try {
            for (FrozenTree.Process p : tree.live()) {
                List<Mapping> maps = Mapping.read(p.pid);
                Tracee t = p.leader();
                // the leader alone runs remote calls, guarded (GuardedScratch: cryo may be killed at any moment)
                try (GuardedScratch g = GuardedScratch.map(List.of(t), AddressSpace.findSyscallInsn(p.pid, maps))) {
                    tracked.put(p.pid, new Tracked(p.pid, TaskUserfaultfd.open(t, Userfaultfd.O_NONBLOCK, FEATURES), maps));
                } catch (SysException | Refusal e) {
                    log.accept("warning: process " + p.pid + " is not pre-copied: " + e.getMessage());
                }
            }
        } finally {
            tree.release(log);
        }
        Timings.mark("pre-copy stop");
        for (Tracked t : tracked.values()) {
            for (Mapping m : t.maps) {
                if (!privateAnon(m)) continue;
                try {
                    Userfaultfd.register(t.uffd, m.start(), m.end() - m.start(), Userfaultfd.REGISTER_MODE_WP);
                    t.registered.add(m.start(), m.end());
                } catch (SysException e) {
                    // unmapped or changed since the maps were read, or a kind of VMA WP cannot register: it is taken whole when frozen
                }
            }
            t.pagemap = Fd.open("/proc/" + t.pid + "/pagemap", Fd.O_RDONLY);
        }
    }

    /** What AddressSpace saves as private anonymous memory, and readable. */
    private static boolean privateAnon(Mapping m) {
        String path = m.path();
        if (m.shared() || !m.readable() || m.inode() != 0 || path.startsWith("[v") || path.equals("[uprobes]")) return false;
        for (String f : m.vmFlags()) if (f.equals("um") || f.equals("uw") || f.equals("ui") || f.equals("io") || f.equals("pf")) return false;
        return true;
    }

    /**
     * One round: the pages present (round 0) or written since the last round, write-protected again by the scan
     * that reports them, then copied. Returns the bytes the scan reported.
     */
    private long round(boolean first) throws IOException {
        writer.write(new PreCopyRoundRecord(round));
        long found = 0, copied = 0;
        for (Tracked t : tracked.values()) {
            if (t.uffd < 0) continue;
            PageSet pages = new PageSet();
            long category = first ? PagemapScan.PAGE_IS_PRESENT : PagemapScan.PAGE_IS_WRITTEN;
            try {
                final PageSet into = pages;
                List<long[]> ranges = new ArrayList<>();
                t.registered.forEach((s, e) -> ranges.add(new long[]{s, e}));
                for (long[] r : ranges) {
                    PagemapScan.scan(t.pagemap, r[0], r[1], PagemapScan.PM_SCAN_WP_MATCHING, 0, category, 0, category,
                            (s, e, c) -> into.add(s, e));
                }
            } catch (SysException e) {
                // gone, or exec'd (its old mm is what the fds see): nothing of it is trusted
                log.accept("warning: process " + t.pid + " is no longer pre-copied: " + e.getMessage());
                t.copied.remove(0, Long.MAX_VALUE);
                t.close();
                continue;
            }
            found += pages.bytes();
            pages.forEach(t.copied::remove);
            copied += copier.copy(t.pid, pages, writer, t.copied);
        }
        copiedBytes += copied;
        Timings.mark("pre-copy round " + round + " (" + found / 4096 + " pages)");
        cryo.sys.KillPoint.reach("pre-copy-round");
        round++;
        return found;
    }

    /**
     * Right after the final freeze: which copies are still valid, per process. The userfaultfds stay open
     * until the checkpoint is over (close()): clearing the write-protection of every page takes a walk of the
     * page tables, done once the tree runs again or is dead; meanwhile ownMaps() hides cryo's registration.
     */
    public void frozen(FrozenTree tree) throws SysException, IOException {
        boolean ok = false;
        try {
            Set<Integer> live = tree.live().stream().map(p -> p.pid).collect(Collectors.toSet());
            for (Tracked t : tracked.values()) {
                if (t.uffd < 0 || !live.contains(t.pid) || t.copied.isEmpty()) continue;
                // One walk: the VMAs still registered by cryo's WP_ASYNC context show as PAGE_IS_WPALLOWED (their
                // holes too), and their pages written since the last round as PAGE_IS_WRITTEN as well.
                PageSet uw = new PageSet(), written = new PageSet();
                int pm = Fd.open("/proc/" + t.pid + "/pagemap", Fd.O_RDONLY);   // the mm it has now, should it have exec'd
                try {
                    List<long[]> ranges = new ArrayList<>();
                    t.registered.forEach((s, e) -> ranges.add(new long[]{s, e}));
                    for (long[] r : ranges) {
                        PagemapScan.scan(pm, r[0], r[1], 0, 0, PagemapScan.PAGE_IS_WPALLOWED, 0,
                                PagemapScan.PAGE_IS_WPALLOWED | PagemapScan.PAGE_IS_WRITTEN, (s, e, c) -> {
                                    uw.add(s, e);
                                    if ((c & PagemapScan.PAGE_IS_WRITTEN) != 0) written.add(s, e);
                                });
                    }
                } finally {
                    Fd.close(pm);
                }
                trusted.put(t.pid, t.copied.intersect(uw).minus(written));
            }
            ok = true;
        } finally {
            if (!ok) close();
        }
        Timings.mark("pre-copy final scan");
    }

    /**
     * The maps of a frozen process as the checkpoint must see them: without "uw" on the VMAs registered with
     * cryo's userfaultfd — a UFFDIO_REGISTER of the same range with it succeeds on those and on no other
     * (another context's VMA gives EBUSY, fs/userfaultfd.c userfaultfd_register), which stay refused.
     */
    public List<Mapping> ownMaps(int pid, List<Mapping> maps) {
        Tracked t = tracked.get(pid);
        if (t == null || t.uffd < 0) return maps;
        List<Mapping> out = new ArrayList<>(maps.size());
        for (Mapping m : maps) {
            List<String> f = m.vmFlags();
            if (f.contains("uw") && !f.contains("um") && !f.contains("ui")) {
                try {
                    Userfaultfd.register(t.uffd, m.start(), m.end() - m.start(), Userfaultfd.REGISTER_MODE_WP);
                    m = new Mapping(m.start(), m.end(), m.perms(), m.offset(), m.inode(), m.path(), f.stream().filter(x -> !x.equals("uw")).toList());
                } catch (SysException e) {
                    // not cryo's
                }
            }
            out.add(m);
        }
        return out;
    }

    /**
     * The pages of process pid to copy now, out of those the checkpoint would save (readable): all but the
     * ones whose pre-copied copy is valid, which a PRECOPY_VALID record names (written to w, for the image's
     * imagePid).
     */
    public Runs pagesToCopy(int pid, int imagePid, Runs pages, ImageWriter w) throws IOException {
        PageSet t = trusted.get(pid);
        if (t == null || t.isEmpty()) return pages;
        PageSet all = new PageSet();
        for (int i = 0; i < pages.count(); i++) all.add(pages.addr(i), pages.addr(i) + pages.len(i));
        PageSet valid = all.intersect(t);
        if (valid.isEmpty()) return pages;
        List<Long> ranges = new ArrayList<>();
        valid.forEach((s, e) -> {
            ranges.add(s);
            ranges.add(e - s);
        });
        w.write(new PreCopyValidRecord(imagePid, pid, ranges.stream().mapToLong(Long::longValue).toArray()));
        Runs out = new Runs();
        all.minus(valid).forEach((s, e) -> out.add(s, e - s));
        return out;
    }

    /** Removes the tracking from every task: closing cryo's only reference to each userfaultfd does it. */
    @Override
    public void close() {
        for (Tracked t : tracked.values()) t.close();
    }

    /** Frees the copy buffer once the image is written. */
    public void release() {
        close();
        copier.close();
    }
}
