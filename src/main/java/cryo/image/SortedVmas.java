package cryo.image;

import cryo.memory.VmaRecord;

import java.util.List;

/**
 * Lookups in a process's VMAs as Image.of has them: sorted and disjoint (up to vm.max_map_count, 65530), so
 * found by binary search — an image of many VMAs and pages is checked in n log n, not n^2.
 */
public final class SortedVmas {
    private SortedVmas() {
    }

    /** The index of the first of the sorted VMAs that ends after addr (vmas.size() if none). */
    private static int firstEndingAfter(List<VmaRecord> vmas, long addr) {
        int lo = 0, hi = vmas.size();
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (vmas.get(mid).end() <= addr) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    /** The VMA of the sorted VMAs that holds [s, e), or null. */
    static VmaRecord holding(List<VmaRecord> vmas, long s, long e) {
        int i = firstEndingAfter(vmas, s);
        return i < vmas.size() && vmas.get(i).start() <= s && e <= vmas.get(i).end() ? vmas.get(i) : null;
    }

    /** True when [s, e) lies inside the union of the sorted VMAs (found by binary search: up to 65530 of them). */
    public static boolean covered(List<VmaRecord> vmas, long s, long e) {
        if (e < s) return false;   // a range past the top of the address space
        long at = s;
        for (VmaRecord v : vmas.subList(firstEndingAfter(vmas, s), vmas.size())) {
            if (v.end() <= at) continue;
            if (v.start() > at) return false;
            at = v.end();
            if (at >= e) return true;
        }
        return at >= e;
    }
}
