package cryo.precopy;

import java.util.Map;
import java.util.TreeMap;

/** A set of pages as sorted, disjoint, non-adjacent runs [start, end) of addresses. */
final class PageSet {
    private final TreeMap<Long, Long> runs = new TreeMap<>();

    interface Run {
        void accept(long start, long end);
    }

    boolean isEmpty() {
        return runs.isEmpty();
    }

    long bytes() {
        long n = 0;
        for (var e : runs.entrySet()) n += e.getValue() - e.getKey();
        return n;
    }

    void add(long s, long e) {
        if (s >= e) return;
        var before = runs.floorEntry(s);
        if (before != null && before.getValue() >= s) {
            s = before.getKey();
            e = Math.max(e, before.getValue());
        }
        for (var it = runs.subMap(s, true, e, true).entrySet().iterator(); it.hasNext(); ) {
            e = Math.max(e, it.next().getValue());
            it.remove();
        }
        runs.put(s, e);
    }

    void remove(long s, long e) {
        if (s >= e) return;
        var before = runs.lowerEntry(s);
        if (before != null && before.getValue() > s) {
            long end = before.getValue();
            runs.put(before.getKey(), s);
            if (end > e) runs.put(e, end);
        }
        for (var it = runs.subMap(s, true, e, false).entrySet().iterator(); it.hasNext(); ) {
            long end = it.next().getValue();
            it.remove();
            if (end > e) runs.put(e, end);
        }
    }

    /** Calls out for each run of this set that lies in [s, e), cut to it. */
    void forEachIn(long s, long e, Run out) {
        var before = runs.lowerEntry(s);
        if (before != null && before.getValue() > s) out.accept(s, Math.min(e, before.getValue()));
        for (Map.Entry<Long, Long> r : runs.subMap(s, true, e, false).entrySet()) out.accept(r.getKey(), Math.min(e, r.getValue()));
    }

    void forEach(Run out) {
        for (var r : runs.entrySet()) out.accept(r.getKey(), r.getValue());
    }

    /** The pages in both sets. */
    PageSet intersect(PageSet o) {
        PageSet out = new PageSet();
        for (var r : runs.entrySet()) o.forEachIn(r.getKey(), r.getValue(), out::add);
        return out;
    }

    /** This set without the pages of o. */
    PageSet minus(PageSet o) {
        PageSet out = new PageSet();
        out.runs.putAll(runs);
        o.forEach(out::remove);
        return out;
    }
}
