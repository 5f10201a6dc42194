package cryo.lazy;

import cryo.image.Image;
import cryo.memory.PagesRecord;
import cryo.memory.VmaRecord;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Which memory a lazy restart leaves for first touch: the pages of private anonymous VMAs of processes that
 * fork no child during the restart. A parent's pages must be in before its children are forked from it (they
 * inherit them copy-on-write: ForkedLayout), so a process with children in the image is filled eagerly, as
 * are the VMAs a child inherited unchanged from its parent. Locked VMAs stay eager (mlock populates them), and
 * so does a VMA that shares a PAGES record with eager memory (a record is checked and copied whole).
 */
public final class LazyPlan {
    private final Map<Integer, List<VmaRecord>> vmas;
    private final Map<Integer, List<PagesRecord>> pages;
    private final Set<PagesRecord> records;

    private LazyPlan(Map<Integer, List<VmaRecord>> vmas, Map<Integer, List<PagesRecord>> pages, Set<PagesRecord> records) {
        this.vmas = vmas;
        this.pages = pages;
        this.records = records;
    }

    public static LazyPlan of(Image image) {
        Set<Integer> parents = new HashSet<>();
        for (Image.ProcessImage p : image.processes.values()) parents.add(p.entry.ppid());
        Map<Integer, List<VmaRecord>> vmas = new HashMap<>();
        Map<Integer, List<PagesRecord>> pages = new HashMap<>();
        Set<PagesRecord> records = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Image.ProcessImage p : image.processes.values()) {
            if (p.entry.zombie() || parents.contains(p.entry.pid()) || p.pages.isEmpty()) continue;
            Image.ProcessImage parent = image.processes.get(p.entry.ppid());
            List<VmaRecord> lazy = new ArrayList<>();
            for (VmaRecord v : p.vmas) if (candidate(v, parent)) lazy.add(v);
            // A record that also covers eager memory makes the lazy VMAs it touches eager, until none does.
            boolean changed = true;
            while (changed) {
                changed = false;
                for (PagesRecord r : p.pages) {
                    long end = r.addr() + r.data().byteSize();
                    List<VmaRecord> touched = lazy.stream().filter(v -> v.start() < end && r.addr() < v.end()).toList();
                    long covered = touched.stream().mapToLong(v -> Math.min(end, v.end()) - Math.max(r.addr(), v.start())).sum();
                    if (!touched.isEmpty() && covered != end - r.addr()) {
                        lazy.removeAll(touched);
                        changed = true;
                    }
                }
            }
            List<PagesRecord> inLazy = new ArrayList<>();
            List<VmaRecord> used = new ArrayList<>();
            for (PagesRecord r : p.pages) {
                long end = r.addr() + r.data().byteSize();
                boolean in = false;
                for (VmaRecord v : lazy) {
                    if (v.start() < end && r.addr() < v.end()) {
                        in = true;
                        if (!used.contains(v)) used.add(v);
                    }
                }
                if (in) inLazy.add(r);
            }
            if (inLazy.isEmpty()) continue;
            used.sort((a, b) -> Long.compare(a.start(), b.start()));
            inLazy.sort((a, b) -> Long.compare(a.addr(), b.addr()));
            vmas.put(p.entry.pid(), used);
            pages.put(p.entry.pid(), inLazy);
            records.addAll(inLazy);
        }
        return new LazyPlan(vmas, pages, records);
    }

    private static boolean candidate(VmaRecord v, Image.ProcessImage parent) {
        if (v.kind() != VmaRecord.Kind.ANON || v.shared() || v.has(VmaRecord.VM_LOCKED) || v.has(VmaRecord.VM_LOCKONFAULT)) return false;
        if (parent != null) {
            for (VmaRecord pv : parent.vmas) if (pv.start() == v.start() && v.inheritableFrom(pv)) return false;
        }
        return true;
    }

    /** True when the image has nothing to restore lazily: the restart is an ordinary one. */
    public boolean isEmpty() {
        return records.isEmpty();
    }

    /** The PAGES records left for first touch (by identity), to keep out of the eager fill and its checks. */
    public Set<PagesRecord> records() {
        return records;
    }

    /** The lazy VMAs of image pid, by address; empty when the process is filled eagerly. */
    public List<VmaRecord> vmas(int pid) {
        return vmas.getOrDefault(pid, List.of());
    }

    /** The lazy PAGES records of image pid, by address. */
    public List<PagesRecord> pages(int pid) {
        return pages.getOrDefault(pid, List.of());
    }

    public long bytes() {
        long n = 0;
        for (PagesRecord r : records) n += r.data().byteSize();
        return n;
    }
}
