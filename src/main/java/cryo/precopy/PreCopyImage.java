package cryo.precopy;

import cryo.image.Image;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.memory.PagesRecord;
import cryo.memory.VmaRecord;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The restart side of a pre-copy image: the rounds before HEAD are folded, later copies of a page overriding
 * earlier ones, into the latest copy of each page per source task; each PRECOPY_VALID of the final state then
 * takes its ranges from those copies, as PagesRecord pieces (views into the mapped image whose CRC is checked
 * as their source record's), merged with the process's own PAGES into one sorted list (ProcessImage.pages).
 */
public final class PreCopyImage {
    /** Part of a pre-copied record: [addr, addr+len) at offset off of its data. */
    private record Piece(long addr, long len, PreCopyPagesRecord src, long off) {
    }

    private final List<ImageRecord> rest;
    /** Source pid -> start address -> the latest copy of those pages (non-overlapping). */
    private final Map<Integer, TreeMap<Long, Piece>> latest = new HashMap<>();
    private final Map<Image.ProcessImage, PreCopyValidRecord> valid = new LinkedHashMap<>();
    private final Map<Image.ProcessImage, String> names = new HashMap<>();

    private PreCopyImage(List<ImageRecord> rest) {
        this.rest = rest;
    }

    /** Takes the leading pre-copy rounds off records: ROUND 0, its PRECOPY_PAGES, ROUND 1, ... */
    public static PreCopyImage take(List<ImageRecord> records) throws ImageException {
        int i = 0, round = -1, pages = 0;
        PreCopyImage img = null;
        for (; i < records.size(); i++) {
            ImageRecord r = records.get(i);
            if (r instanceof PreCopyRoundRecord rr) {
                if (rr.round() != round + 1) throw new ImageException("record PRECOPY_ROUND #" + (round + 1) + ": field 'round' is " + rr.round() + ", expected " + (round + 1));
                round = rr.round();
            } else if (r instanceof PreCopyPagesRecord p) {
                if (round < 0) throw new ImageException("record PRECOPY_PAGES #" + pages + ": before the first PRECOPY_ROUND");
                if (img == null) img = new PreCopyImage(null);
                img.override(p);
                pages++;
            } else {
                break;
            }
        }
        List<ImageRecord> rest = records.subList(i, records.size());
        PreCopyImage out = new PreCopyImage(rest);
        if (img != null) out.latest.putAll(img.latest);
        return out;
    }

    public List<ImageRecord> rest() {
        return rest;
    }

    /** Puts p over whatever earlier copies of its pages there were. */
    private void override(PreCopyPagesRecord p) {
        TreeMap<Long, Piece> m = latest.computeIfAbsent(p.pid(), k -> new TreeMap<>());
        long s = p.addr(), e = s + p.data().byteSize();
        var before = m.floorEntry(s);
        if (before != null && before.getValue().addr + before.getValue().len > s) {
            Piece b = before.getValue();
            m.put(b.addr, new Piece(b.addr, s - b.addr, b.src, b.off));
            if (b.addr + b.len > e) m.put(e, new Piece(e, b.addr + b.len - e, b.src, b.off + (e - b.addr)));
            if (b.addr == s) m.remove(s);
        }
        for (var it = m.subMap(s, true, e, false).entrySet().iterator(); it.hasNext(); ) {
            Piece q = it.next().getValue();
            it.remove();
            if (q.addr + q.len > e) m.put(e, new Piece(e, q.addr + q.len - e, q.src, q.off + (e - q.addr)));
        }
        m.put(s, new Piece(s, e - s, p, 0));
    }

    /** A PRECOPY_VALID of process p (one per process). */
    public void valid(PreCopyValidRecord v, Image.ProcessImage p, String name) throws ImageException {
        if (valid.containsKey(p)) throw new ImageException("record " + name + ": a second PRECOPY_VALID for pid " + v.pid());
        if (!latest.containsKey(v.source())) throw new ImageException("record " + name + ": field 'source' " + v.source() + " has no PRECOPY_PAGES before HEAD");
        valid.put(p, v);
        names.put(p, name);
    }

    /** Adds the valid pre-copied pieces to each process's pages and sorts them; refuses overlaps and gaps. */
    public void resolve() throws ImageException {
        for (var e : valid.entrySet()) {
            Image.ProcessImage p = e.getKey();
            PreCopyValidRecord v = e.getValue();
            String name = names.get(p);
            TreeMap<Long, Piece> copies = latest.get(v.source());
            List<PagesRecord> pieces = new ArrayList<>();
            for (int i = 0; i < v.count(); i++) {
                long s = v.start(i), end = s + v.length(i);
                if (!cryo.image.SortedVmas.covered(p.vmas, s, end)) throw new ImageException("record " + name + ": field 'ranges' 0x" + Long.toHexString(s) + " (" + v.length(i) / 4096 + " pages) lies outside the VMAs of pid " + v.pid());
                long at = s;
                var from = copies.floorKey(s);
                for (Piece q : copies.tailMap(from == null ? s : from, true).values()) {
                    if (q.addr >= end) break;
                    if (q.addr + q.len <= at) continue;
                    if (q.addr > at) break;
                    long hi = Math.min(end, q.addr + q.len);
                    pieces.add(new PagesRecord(v.pid(), at, q.src.crc(), q.src.data().asSlice(q.off + (at - q.addr), hi - at), q.src));
                    at = hi;
                }
                if (at < end) throw new ImageException("record " + name + ": field 'ranges' page 0x" + Long.toHexString(at) + " of pid " + v.pid() + " has no pre-copied data of task " + v.source());
            }
            pieces.addAll(p.pages);
            pieces.sort(Comparator.comparingLong(PagesRecord::addr));
            for (int i = 1; i < pieces.size(); i++) {
                PagesRecord a = pieces.get(i - 1), b = pieces.get(i);
                if (a.addr() + a.data().byteSize() > b.addr()) throw new ImageException("record " + name + ": field 'ranges' page 0x" + Long.toHexString(b.addr()) + " of pid " + v.pid() + " is also in a PAGES record");
            }
            for (var in : p.inherited) {
                for (PagesRecord q : pieces) {
                    if (q.source() != null && q.addr() < in.addr() + in.len() && in.addr() < q.addr() + q.data().byteSize()) {
                        throw new ImageException("record " + name + ": field 'ranges' page 0x" + Long.toHexString(Math.max(q.addr(), in.addr())) + " of pid " + v.pid() + " is also inherited from its parent");
                    }
                }
            }
            p.pages.clear();
            p.pages.addAll(pieces);
        }
    }
}
