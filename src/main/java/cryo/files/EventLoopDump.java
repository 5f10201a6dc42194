package cryo.files;

import cryo.image.ImageWriter;
import cryo.image.Refusal;
import cryo.sys.EventPoll;
import cryo.sys.SysException;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The checkpoint half of epolls and eventfds beyond their OPEN_FILE: each eventfd's counter, and each
 * epoll's interest list from the `tfd:` lines of its fdinfo (fs/eventpoll.c ep_show_fdinfo()). An item
 * names the fd number it was added under, which may have been closed or reused since: the description it
 * watches is found with kcmp(KCMP_EPOLL_TFD) among the fds of the tree with the same inode, once every fd
 * of every task is known (resolve()), so that a target whose fd comes later, or in another task, is found
 * too. The records go after every OPEN_FILE record.
 */
public final class EventLoopDump {
    private final FileTable table;
    private final List<EventfdRecord> eventfds = new ArrayList<>();
    private final List<Epoll> epolls = new ArrayList<>();
    private final List<EpollTargetRecord> targets = new ArrayList<>();
    /** The items on signalfds among targets, with their epoll. */
    private final Map<EpollTargetRecord, Epoll> onSignalfds = new LinkedHashMap<>();

    /** An epoll description as first met: its holder, its objref and its fdinfo items. */
    private record Epoll(int pid, int fd, int objref, List<Item> items) {
    }

    /** One `tfd:` line; toff counts the lines before it with the same fd number (kcmp's index among them). */
    private record Item(int tfd, int toff, int events, long data, long ino) {
    }

    EventLoopDump(FileTable table) {
        this.table = table;
    }

    void eventfd(EventfdRecord r) {
        eventfds.add(r);
    }

    /** Notes an epoll description met at fd of pid, with the text of its fdinfo. */
    void epoll(int pid, int fd, int objref, String fdinfo) {
        List<Item> items = new ArrayList<>();
        Map<Integer, Integer> seen = new HashMap<>();
        for (String line : fdinfo.split("\n")) {
            if (!line.startsWith("tfd:")) continue;
            // "tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x"
            Map<String, String> f = new LinkedHashMap<>();
            String[] w = line.trim().split("\\s+");
            for (int i = 0; i < w.length; i++) {
                int colon = w[i].indexOf(':');
                if (colon == w[i].length() - 1 && i + 1 < w.length) f.put(w[i].substring(0, colon), w[++i]);
                else if (colon > 0) f.put(w[i].substring(0, colon), w[i].substring(colon + 1));
            }
            int tfd = Integer.parseInt(f.get("tfd"));
            int toff = seen.merge(tfd, 1, Integer::sum) - 1;
            items.add(new Item(tfd, toff, Integer.parseUnsignedInt(f.get("events"), 16), Long.parseUnsignedLong(f.get("data"), 16),
                    Long.parseUnsignedLong(f.get("ino"), 16)));
        }
        epolls.add(new Epoll(pid, fd, objref, items));
    }

    /**
     * Finds the description behind every item of every epoll, once every fd of the tree has been met. An item
     * whose file no fd of the tree holds (closed after EPOLL_CTL_ADD, kept open by a process outside or a
     * mapping: an epoll does not hold its targets) is refused; so is an EPOLLONESHOT item that fired
     * (disabled) whose file is ready for nothing now, since restart disables it again by letting it fire once.
     */
    public void resolve(Refusal.Collector refused) throws IOException {
        for (Epoll e : epolls) {
            for (Item it : e.items) {
                String what = "fd " + e.fd + " is an epoll instance watching fd " + it.tfd + " (inode " + it.ino + ")";
                try {
                    FileTable.Holder h = holder(e, it);
                    if (h == null) {
                        if (!refusedElsewhere(e, it)) {
                            refused.add(e.pid, what + ", which no fd of the tree holds any more (closed after EPOLL_CTL_ADD, kept open"
                                    + " outside the tree): not supported");
                        }
                        continue;
                    }
                    EpollTargetRecord t = new EpollTargetRecord(e.objref, h.objref(), it.tfd, it.events, it.data);
                    boolean signalfd = OpenFiles.links(h.pid()).get(h.fd()).equals(SignalfdFile.LINK);
                    if (signalfd && t.disabled()) {
                        refused.add(e.pid, what + ", a signalfd, with EPOLLONESHOT fired and disabled: not supported");
                        continue;
                    }
                    if (t.disabled() && (EventPoll.readiness(h.pid(), h.fd()) & EventPoll.EVENT_BITS) == 0) {
                        refused.add(e.pid, what + " with EPOLLONESHOT, fired and disabled, and the file is ready for no event:"
                                + " restart could not disable it again");
                        continue;
                    }
                    // Restart fires such an item before any other is added: a watched epoll is empty then.
                    if (t.disabled() && OpenFiles.links(h.pid()).get(h.fd()).equals(EpollFile.LINK)) {
                        refused.add(e.pid, what + ", another epoll, with EPOLLONESHOT fired and disabled: not supported");
                        continue;
                    }
                    if (signalfd) onSignalfds.put(t, e);
                    targets.add(t);
                } catch (SysException x) {
                    throw new IOException(x.getMessage());
                }
            }
        }
        onSignalfds.forEach((t, e) -> refuseOnSignalfd(t, e, refused));
    }

    /**
     * An item on a signalfd is added at restart by a task of the tree that holds the epoll and the signalfd at
     * the item's number (EpollSignalfds), before cryo adds the other items: cryo must then never poll that epoll,
     * or the kernel would poll the signalfd for cryo's signals and drop the item from the ready list
     * (fs/eventpoll.c __ep_eventpoll_poll(), ep_send_events()). So no fired EPOLLONESHOT item beside it (cryo
     * fires those with epoll_wait) and no epoll watching that epoll (adding it polls it).
     */
    private void refuseOnSignalfd(EpollTargetRecord t, Epoll e, Refusal.Collector refused) {
        String what = "fd " + e.fd + " is an epoll instance watching fd " + t.tfd() + ", a signalfd";
        Map<Integer, Map<Integer, Integer>> fds = new HashMap<>();
        for (FileTable.Holder h : table.holders()) fds.computeIfAbsent(h.pid(), k -> new HashMap<>()).put(h.fd(), h.objref());
        if (EpollSignalfds.adder(fds, t) == null) {
            refused.add(e.pid, what + ", and no process of the tree holds both the epoll and the signalfd at fd " + t.tfd()
                    + ": restart adds the item in such a process, for whose signals it is polled");
        } else if (targets.stream().anyMatch(o -> o.epoll() == t.epoll() && o.disabled())) {
            refused.add(e.pid, what + ", beside a fired EPOLLONESHOT item: not supported");
        } else if (targets.stream().anyMatch(o -> o.target() == t.epoll())) {
            refused.add(e.pid, what + ", and is watched by another epoll: not supported");
        } else {
            return;
        }
        targets.remove(t);
    }

    /** The fd met so far that holds the file the item watches (same inode, then kcmp), or null. */
    private FileTable.Holder holder(Epoll e, Item it) throws SysException {
        for (FileTable.Holder h : table.holdersOfInode(it.ino)) {
            if (EventPoll.watches(h.pid(), h.fd(), e.pid, e.fd, it.tfd, it.toff)) return h;
        }
        return null;
    }

    /** True when an fd of the tree that checkpoint did not take (refused for itself) holds the item's file. */
    private boolean refusedElsewhere(Epoll e, Item it) throws IOException, SysException {
        for (int pid : table.processes()) {
            for (int fd : OpenFiles.links(pid).keySet()) {
                if (EventPoll.watches(pid, fd, e.pid, e.fd, it.tfd, it.toff)) return true;
            }
        }
        return false;
    }

    public void write(ImageWriter w) throws IOException {
        for (EventfdRecord r : eventfds) w.write(r);
        for (EpollTargetRecord r : targets) w.write(r);
    }

    /** What `cryo show` prints of a record. */
    public static Map<String, Object> fields(EventLoopRecord r) {
        Map<String, Object> m = new LinkedHashMap<>();
        switch (r) {
            case EventfdRecord e -> {
                m.put("open_file", e.openFile());
                m.put("count", Long.toUnsignedString(e.count()));
                m.put("semaphore", e.semaphore());
            }
            case EpollTargetRecord t -> {
                m.put("epoll", t.epoll());
                m.put("target", t.target());
                m.put("tfd", t.tfd());
                m.put("events", "0x" + Integer.toHexString(t.events()));
                m.put("data", "0x" + Long.toHexString(t.data()));
                if (t.disabled()) m.put("disabled", true);
            }
        }
        return m;
    }
}
