package cryo.files;

import cryo.sys.Errno;
import cryo.sys.EventPoll;
import cryo.sys.SysException;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Puts the items of every restored epoll back. The kernel keys an item by file and fd number (fs/eventpoll.c
 * ep_find()), and the task names it by that number in EPOLL_CTL_MOD and DEL, so each must be added under
 * the number it had, not under cryo's fd of the target. A thread of cryo takes a private copy of cryo's fd
 * table (unshare(CLONE_FILES): the process's own table and every other thread are untouched), moves the
 * fds it needs above every item's number, puts each target at its item's number in that copy and adds it;
 * the copy goes away with the thread. The thread only makes system calls. An item on a signalfd was added
 * by a task of the tree already (EpollSignalfds).
 */
final class EpollItems {
    private EpollItems() {
    }

    /** One item to add: cryo's fds of the epoll and of its target, and the record. */
    private record Add(int epoll, int target, EpollTargetRecord r) {
    }

    /** epolls: cryo's fd of each epoll description made, by objref; opener gives cryo's fd of each target. */
    static void add(Map<Integer, Integer> epolls, EventLoops loops, OpenFiles.Opener opener) throws SysException {
        List<Add> adds = new ArrayList<>();
        int base = 0;
        for (var e : epolls.entrySet()) {
            for (EpollTargetRecord t : loops.targets(e.getKey())) {
                if (EpollSignalfds.addedByTask(opener.description(t.target()))) continue;   // added in its task
                adds.add(new Add(e.getValue(), opener.localFd(t.target()), t));
                base = Math.max(base, t.tfd() + 1);
            }
        }
        if (adds.isEmpty()) return;
        int from = base;
        cryo.sys.OwnThread.call("cryo-epoll-items", () -> {
            addAll(adds, from);
            return null;
        });
    }

    /**
     * In the thread with the private table. Fired EPOLLONESHOT items first, each alone on the ready lists:
     * added with every event bit, it is ready (checkpoint saw its file ready) and one epoll_wait takes it,
     * which leaves it disabled with exactly its saved bits (EPOLL_CTL_ADD always adds EPOLLERR|EPOLLHUP, so
     * the kernel has no other way to make a disabled item). Then every other item: an item whose file is
     * ready now (data in a watched pipe) is on the ready list again (ep_insert() polls it).
     */
    private static void addAll(List<Add> adds, int from) throws SysException {
        EventPoll.unshareFiles();
        // Every fd needed moves above the items' numbers before any number is taken: cryo's own fds of the
        // epolls and targets may be among them.
        int[] epoll = new int[adds.size()], target = new int[adds.size()];
        for (int i = 0; i < adds.size(); i++) {
            epoll[i] = EventPoll.dupAtLeast(adds.get(i).epoll, from);
            target[i] = EventPoll.dupAtLeast(adds.get(i).target, from);
        }
        for (int i = 0; i < adds.size(); i++) {
            EpollTargetRecord r = adds.get(i).r;
            if (!r.disabled()) continue;
            EventPoll.dup3(target[i], r.tfd());
            EventPoll.epollAdd(epoll[i], r.tfd(), r.events() | EventPoll.EVENT_BITS, r.data());
            long[] got = EventPoll.epollWaitOne(epoll[i]);
            if (got == null || got[1] != r.data()) {
                throw new SysException("epoll " + r.epoll() + ": the fired EPOLLONESHOT item of fd " + r.tfd()
                        + " (OPEN_FILE " + r.target() + ") is not ready now, and cannot be disabled again", Errno.EAGAIN);
            }
        }
        for (int i = 0; i < adds.size(); i++) {
            EpollTargetRecord r = adds.get(i).r;
            if (r.disabled()) continue;
            EventPoll.dup3(target[i], r.tfd());
            EventPoll.epollAdd(epoll[i], r.tfd(), r.events(), r.data());
        }
    }
}
