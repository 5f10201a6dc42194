package cryo.lazy;

import cryo.memory.PagesRecord;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One address space served lazily: cryo's userfaultfd on it and the ranges of it still waiting for their
 * image data (pending). Every change to pending and every copy into the space happens under lock, and so
 * does every read of the userfaultfd: an event read (the kernel then lets the munmap, madvise, mremap or fork
 * go on) is applied to pending before any copy can land where it no longer belongs.
 */
final class Space {
    /** [start, end) of the task's memory that takes record's data from offset off on. */
    record Piece(long start, long end, PagesRecord record, long off) {
        Piece clip(long s, long e) {
            long ns = Math.max(s, start), ne = Math.min(e, end);
            return new Piece(ns, ne, record, off + (ns - start));
        }

        Piece moved(long delta) {
            return new Piece(start + delta, end + delta, record, off);
        }
    }

    final int uffd;
    final String name;
    final ReentrantLock lock = new ReentrantLock();
    private final TreeMap<Long, Piece> pending = new TreeMap<>();
    /** The address space is gone (exit or exec): nothing more to copy. */
    boolean gone;

    Space(int uffd, String name) {
        this.uffd = uffd;
        this.name = name;
    }

    void add(Piece p) {
        if (p.start < p.end) pending.put(p.start, p);
    }

    /** The pending piece holding addr, or null. */
    Piece at(long addr) {
        Map.Entry<Long, Piece> e = pending.floorEntry(addr);
        return e != null && e.getValue().end > addr ? e.getValue() : null;
    }

    Piece first() {
        Map.Entry<Long, Piece> e = pending.firstEntry();
        return e == null ? null : e.getValue();
    }

    boolean done() {
        return gone || pending.isEmpty();
    }

    long pendingBytes() {
        long n = 0;
        for (Piece p : pending.values()) n += p.end - p.start;
        return n;
    }

    /** Takes [start, end) out of pending; returns the pieces it held, clipped to it. */
    List<Piece> take(long start, long end) {
        List<Piece> out = new ArrayList<>();
        Map.Entry<Long, Piece> before = pending.lowerEntry(start);
        Long from = before != null && before.getValue().end > start ? before.getKey() : Long.valueOf(start);
        for (Piece p : List.copyOf(pending.subMap(from, true, end, false).values())) {
            pending.remove(p.start);
            if (p.start < start) add(p.clip(p.start, start));
            if (p.end > end) add(p.clip(end, p.end));
            out.add(p.clip(start, end));
        }
        return out;
    }

    /** mremap moved [from, from+len) to to: what was pending there is pending at its new place. */
    void move(long from, long to, long len) {
        for (Piece p : take(from, from + len)) add(p.moved(to - from));
    }

    List<Piece> pieces() {
        return List.copyOf(pending.values());
    }

    void clear() {
        pending.clear();
    }

    /** The pending ranges for the child forked from this space: the same data, filled on their own from now. */
    Space forked(int childUffd) {
        Space child = new Space(childUffd, name + "'s child");
        child.pending.putAll(pending);
        return child;
    }
}
