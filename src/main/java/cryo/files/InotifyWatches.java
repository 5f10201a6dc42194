package cryo.files;

import cryo.image.ImageException;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The INOTIFY_WATCH records of an image by inotify instance, checked as they are read: each names an
 * INOTIFY description and a FILE before it, and within one instance no wd and no file appears twice (the
 * kernel keeps one watch per inode and instance).
 */
public final class InotifyWatches {
    private final Map<Integer, List<InotifyWatchRecord>> byInstance = new HashMap<>();

    public void add(InotifyWatchRecord w, Map<Integer, OpenFileRecord> openFiles, Map<Integer, FileRecord> files, String name) throws ImageException {
        OpenFileRecord o = openFiles.get(w.inotify());
        if (o == null || o.kind() != OpenFileRecord.Kind.INOTIFY) {
            throw new ImageException("record " + name + ": field 'inotify' names objref " + w.inotify() + ", which no INOTIFY OPEN_FILE record before it has");
        }
        if (!files.containsKey(w.file())) throw new ImageException("record " + name + ": field 'file' names objref " + w.file() + ", which no FILE record before it has");
        List<InotifyWatchRecord> l = byInstance.computeIfAbsent(w.inotify(), k -> new ArrayList<>());
        for (InotifyWatchRecord x : l) {
            if (x.wd() == w.wd()) throw new ImageException("record " + name + ": wd " + w.wd() + " of inotify " + w.inotify() + " appears twice");
            if (x.file() == w.file()) throw new ImageException("record " + name + ": FILE " + w.file() + " is watched twice by inotify " + w.inotify() + " (wd " + x.wd() + " and " + w.wd() + ")");
        }
        l.add(w);
    }

    /** The FILE objrefs some watch names. */
    public java.util.Set<Integer> files() {
        java.util.Set<Integer> f = new java.util.HashSet<>();
        for (List<InotifyWatchRecord> l : byInstance.values()) for (InotifyWatchRecord w : l) f.add(w.file());
        return f;
    }

    /** The watches of the instance OPEN_FILE objref, in ascending wd order. */
    List<InotifyWatchRecord> of(int inotify) {
        List<InotifyWatchRecord> l = new ArrayList<>(byInstance.getOrDefault(inotify, List.of()));
        l.sort(java.util.Comparator.comparingInt(InotifyWatchRecord::wd));
        return l;
    }
}
