package cryo.files;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;
import cryo.sys.EventPoll;

/**
 * EPOLL_TARGET: one item of the interest list of the epoll description OPEN_FILE `epoll` (a `tfd:` line of
 * its fdinfo): the description it watches (OPEN_FILE `target`), the fd number it was added under (the
 * kernel keys an item by file and number, so EPOLL_CTL_MOD/DEL name it by that number), its event mask
 * (EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE, EPOLLWAKEUP included; an EPOLLONESHOT item that fired keeps only
 * those bits) and its 64-bit data. {u32 epoll; u32 target; u32 tfd; u32 events; u64 data}.
 */
public record EpollTargetRecord(int epoll, int target, int tfd, int events, long data) implements EventLoopRecord {
    /** A fired EPOLLONESHOT item: disabled until EPOLL_CTL_MOD (fs/eventpoll.c ep_send_events()). */
    public boolean disabled() {
        return (events & EventPoll.EPOLLONESHOT) != 0 && (events & ~EventPoll.PRIVATE_BITS) == 0;
    }

    public RecordType type() {
        return RecordType.EPOLL_TARGET;
    }

    public void encode(Encoder e) {
        e.u32(epoll).u32(target).u32(tfd).u32(events).u64(data);
    }

    public static EpollTargetRecord decode(Decoder d) throws ImageException {
        int epoll = d.u32("epoll", 1, Integer.MAX_VALUE);
        int target = d.u32("target", 1, Integer.MAX_VALUE);
        int tfd = d.u32("tfd", 0, FdRecord.NR_OPEN_MAX - 1);
        int events = d.u32("events");
        long data = d.u64("data");
        int unknown = events & ~(EventPoll.EVENT_BITS | EventPoll.PRIVATE_BITS);
        if (unknown != 0) throw d.error("events", "has bits 0x" + Integer.toHexString(unknown) + " no epoll event has");
        if (target == epoll) throw d.error("target", "is the epoll itself");
        if ((events & EventPoll.EPOLLEXCLUSIVE) != 0 && (events & EventPoll.EPOLLONESHOT) != 0) throw d.error("events", "has both EPOLLEXCLUSIVE and EPOLLONESHOT");
        return new EpollTargetRecord(epoll, target, tfd, events, data);
    }
}
