package cryo.files;

import cryo.image.Image;
import cryo.image.ImageException;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The EVENTFD and EPOLL_TARGET records of an image, checked against the OPEN_FILE records before them (and,
 * once the whole image is read, against the FD records): what the restore halves of EventfdFile and
 * EpollFile read.
 */
public final class EventLoops {
    private final Map<Integer, EventfdRecord> eventfds = new HashMap<>();
    private final Map<Integer, List<EpollTargetRecord>> targets = new LinkedHashMap<>();

    /** The counter of EVENTFD description objref. */
    EventfdRecord eventfd(int objref) {
        return eventfds.get(objref);
    }

    /** The interest list of EPOLL description objref, in image order. */
    List<EpollTargetRecord> targets(int objref) {
        return targets.getOrDefault(objref, List.of());
    }

    /** Every epoll with a non-empty interest list, by objref. */
    Map<Integer, List<EpollTargetRecord>> epolls() {
        return targets;
    }

    /** Checks one record against the OPEN_FILE records (all before it) and keeps it. */
    public void add(EventLoopRecord r, Map<Integer, OpenFileRecord> openFiles, String name) throws ImageException {
        switch (r) {
            case EventfdRecord e -> {
                kind(openFiles, e.openFile(), OpenFileRecord.Kind.EVENTFD, "open_file", name);
                if (eventfds.put(e.openFile(), e) != null) throw new ImageException("record " + name + ": a second EVENTFD for OPEN_FILE " + e.openFile());
            }
            case EpollTargetRecord t -> {
                kind(openFiles, t.epoll(), OpenFileRecord.Kind.EPOLL, "epoll", name);
                if (!openFiles.containsKey(t.target())) throw new ImageException("record " + name + ": field 'target' names objref " + t.target() + ", which no OPEN_FILE record before it has");
                List<EpollTargetRecord> list = targets.computeIfAbsent(t.epoll(), k -> new ArrayList<>());
                // The kernel keys an item by file and fd number: the same pair twice cannot be.
                if (list.stream().anyMatch(o -> o.target() == t.target() && o.tfd() == t.tfd())) {
                    throw new ImageException("record " + name + ": epoll " + t.epoll() + " watches OPEN_FILE " + t.target() + " as fd " + t.tfd() + " twice");
                }
                list.add(t);
            }
        }
    }

    private static void kind(Map<Integer, OpenFileRecord> openFiles, int objref, OpenFileRecord.Kind kind, String field, String name) throws ImageException {
        OpenFileRecord o = openFiles.get(objref);
        if (o == null) throw new ImageException("record " + name + ": field '" + field + "' names objref " + objref + ", which no OPEN_FILE record before it has");
        if (o.kind() != kind) throw new ImageException("record " + name + ": field '" + field + "' names OPEN_FILE " + objref + ", which is of kind " + o.kind() + ", not " + kind);
    }

    /**
     * Once the image is read: every eventfd has its counter; every watched description is held by an fd of
     * the tree (an epoll does not keep its targets open: one held by no fd would vanish when cryo lets go of
     * it); no epoll watches itself through others (the kernel refuses loops, fs/eventpoll.c ep_loop_check());
     * every item on a signalfd has a process to add it (EpollSignalfds).
     */
    public void checkComplete(Image img) throws ImageException {
        for (OpenFileRecord o : img.openFiles.values()) {
            if (o.kind() == OpenFileRecord.Kind.EVENTFD && !eventfds.containsKey(o.objref())) throw new ImageException("record OPEN_FILE " + o.objref() + ": an eventfd without its EVENTFD record");
        }
        Set<Integer> held = new HashSet<>();
        for (Image.ProcessImage p : img.processes.values()) for (FdRecord f : p.fds) held.add(f.openFile());
        for (var e : targets.entrySet()) {
            for (EpollTargetRecord t : e.getValue()) {
                if (!held.contains(t.target())) throw new ImageException("record EPOLL_TARGET: epoll " + t.epoll() + " watches OPEN_FILE " + t.target() + " (fd " + t.tfd() + "), which no FD record holds");
            }
            checkNoLoop(e.getKey(), new HashSet<>());
        }
        EpollSignalfds.check(img, targets);
    }

    /**
     * Before anything is created: every epoll item on a description inherited from `cryo restart` (its fds
     * 0-2 or --inherit-fd) can be added, that is cryo's fd for it is one epoll can watch (epoll_ctl(2):
     * EPERM for a regular file, a directory or /dev/null). A trial add on an epoll of cryo's own says.
     */
    public void preflightInherited(Map<Integer, OpenFileRecord> openFiles, Map<String, Integer> inheritFds) throws ImageException {
        for (var e : targets.entrySet()) {
            for (EpollTargetRecord t : e.getValue()) {
                OpenFileRecord d = openFiles.get(t.target());
                if (d.kind() != OpenFileRecord.Kind.INHERITED) continue;
                int fd = inheritFds.getOrDefault(d.description(), d.inheritFd());
                if (fd < 0) continue;   // an --inherit-fd not given: Preflight names it
                try {
                    int ep = cryo.sys.EventPoll.epollCreate();
                    try {
                        cryo.sys.EventPoll.epollAdd(ep, fd, cryo.sys.EventPoll.EPOLLIN, 0);
                    } finally {
                        cryo.sys.Fd.close(ep);
                    }
                } catch (cryo.sys.SysException x) {
                    throw new ImageException("epoll " + t.epoll() + " watches fd " + t.tfd() + " (" + d.description() + "), which restart connects to its own fd "
                            + fd + " (" + describe(fd) + "), and epoll cannot watch that (" + cryo.sys.Errno.name(x.errno()) + "): give cryo restart a pipe, socket or terminal there");
                }
            }
        }
    }

    private static String describe(int fd) {
        try {
            return java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/fd/" + fd)).toString();
        } catch (java.io.IOException e) {
            return "not open";
        }
    }

    private void checkNoLoop(int epoll, Set<Integer> path) throws ImageException {
        if (!path.add(epoll)) throw new ImageException("record EPOLL_TARGET: epoll " + epoll + " watches itself through the epolls it watches");
        for (EpollTargetRecord t : targets(epoll)) if (targets.containsKey(t.target())) checkNoLoop(t.target(), path);
        path.remove(epoll);
    }
}
