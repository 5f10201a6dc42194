package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * epoll(7) and eventfd(2) in cryo's own process, kcmp(KCMP_EPOLL_TFD) to find what an epoll watches, and
 * pidfd_getfd(2)/poll(2) to look at a task's file without changing it.
 */
public final class EventPoll {
    public static final int EPOLL_CTL_ADD = 1;
    public static final int EPOLLIN = 0x001, EPOLLPRI = 0x002, EPOLLOUT = 0x004, EPOLLERR = 0x008, EPOLLHUP = 0x010,
            EPOLLRDNORM = 0x040, EPOLLRDBAND = 0x080, EPOLLWRNORM = 0x100, EPOLLWRBAND = 0x200, EPOLLMSG = 0x400,
            EPOLLRDHUP = 0x2000;
    public static final int EPOLLEXCLUSIVE = 1 << 28, EPOLLWAKEUP = 1 << 29, EPOLLONESHOT = 1 << 30, EPOLLET = 1 << 31;
    /** Every event bit poll(2) and epoll know (include/uapi/linux/eventpoll.h). */
    public static final int EVENT_BITS = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDNORM | EPOLLRDBAND
            | EPOLLWRNORM | EPOLLWRBAND | EPOLLMSG | EPOLLRDHUP;
    /** The bits that stay when an EPOLLONESHOT item fires (fs/eventpoll.c EP_PRIVATE_BITS). */
    public static final int PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;
    public static final int EFD_SEMAPHORE = 1, EFD_NONBLOCK = Fd.O_NONBLOCK, EFD_CLOEXEC = Fd.O_CLOEXEC;
    private static final int KCMP_EPOLL_TFD = 7, CLONE_FILES = 0x400, F_DUPFD = 0;
    /** epoll_ctl's number, for a remote call in a task (cryo.files.EpollSignalfds). */
    public static final int EPOLL_CTL = 233;
    private static final int EPOLL_CREATE1 = 291, EPOLL_WAIT = 232, EVENTFD2 = 290, POLL = 7;

    private EventPoll() {
    }

    /** epoll_create1(EPOLL_CLOEXEC). */
    public static int epollCreate() throws SysException {
        return (int) Native.check(Native.raw(EPOLL_CREATE1, Fd.O_CLOEXEC), "epoll_create1");
    }

    /** epoll_ctl(epfd, EPOLL_CTL_ADD, fd, {events, data}). */
    public static void epollAdd(int epfd, int fd, int events, long data) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ev = a.allocate(12);   // struct epoll_event is packed on x86_64
            ev.set(JAVA_INT, 0, events);
            ev.set(JAVA_LONG.withByteAlignment(4), 4, data);
            Native.check(Native.raw(EPOLL_CTL, epfd, EPOLL_CTL_ADD, fd, ev.address()),
                    "epoll_ctl(" + epfd + ", EPOLL_CTL_ADD, " + fd + ", 0x" + Integer.toHexString(events) + ")");
        }
    }

    /** epoll_wait(epfd, 1 event, timeout 0): {events, data} of the event reported, or null if none is ready. */
    public static long[] epollWaitOne(int epfd) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ev = a.allocate(12);
            long n;
            do {
                n = Native.raw(EPOLL_WAIT, epfd, ev.address(), 1, 0);
            } while (n == -Errno.EINTR);
            if (Native.check(n, "epoll_wait(" + epfd + ")") == 0) return null;
            return new long[]{ev.get(JAVA_INT, 0), ev.get(JAVA_LONG.withByteAlignment(4), 4)};
        }
    }

    /** eventfd2(0, flags). */
    public static int eventfd(int flags) throws SysException {
        return (int) Native.check(Native.raw(EVENTFD2, 0, flags), "eventfd2(0, 0x" + Integer.toHexString(flags) + ")");
    }

    /** Adds value to an eventfd's counter (write(2) of 8 bytes). */
    public static void eventfdWrite(int fd, long value) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            Fd.writeFully(fd, a.allocateFrom(JAVA_LONG, value), "eventfd " + fd);
        }
    }

    /**
     * kcmp(pid1, pid2, KCMP_EPOLL_TFD, fd1, {efd, tfd, toff}): true when fd1 of pid1 is the file the epoll efd
     * of pid2 watches as its toff-th item with fd number tfd (kernel/kcmp.c, fs/eventpoll.c
     * get_epoll_tfile_raw_ptr()).
     */
    public static boolean watches(int pid1, int fd1, int pid2, int efd, int tfd, int toff) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment slot = a.allocate(12);
            slot.set(JAVA_INT, 0, efd);
            slot.set(JAVA_INT, 4, tfd);
            slot.set(JAVA_INT, 8, toff);
            return Native.check(Native.raw(Nr.KCMP, pid1, pid2, KCMP_EPOLL_TFD, fd1, slot.address()),
                    "kcmp(" + pid1 + ", " + pid2 + ", KCMP_EPOLL_TFD, " + fd1 + ", {" + efd + ", " + tfd + ", " + toff + "})") == 0;
        }
    }

    /**
     * The events a task's file is ready for now (poll(2) with timeout 0 on a duplicate taken with pidfd_getfd,
     * which changes nothing of the task's).
     */
    public static int readiness(int pid, int fd) throws SysException {
        int dup = Proc.pidfdGetfd(pid, fd);
        try {
            return readiness(dup);
        } finally {
            Fd.close(dup);
        }
    }

    /** The events cryo's fd is ready for now (poll(2), timeout 0). */
    public static int readiness(int fd) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(8);
            p.set(JAVA_INT, 0, fd);
            p.set(JAVA_SHORT, 4, (short) EVENT_BITS);
            long n;
            do {
                n = Native.raw(POLL, p.address(), 1, 0);
            } while (n == -Errno.EINTR);
            Native.check(n, "poll(" + fd + ")");
            return p.get(JAVA_SHORT, 6) & 0xffff;
        }
    }

    /** unshare(CLONE_FILES): the calling thread gets a copy of the fd table of its own; the process's is untouched. */
    public static void unshareFiles() throws SysException {
        Native.check(Native.raw(Nr.UNSHARE, CLONE_FILES), "unshare(CLONE_FILES)");
    }

    /** fcntl(F_DUPFD): a duplicate of fd at the lowest free number from min up. */
    public static int dupAtLeast(int fd, int min) throws SysException {
        return (int) Native.check(Native.raw(Nr.FCNTL, fd, F_DUPFD, min), "fcntl(" + fd + ", F_DUPFD, " + min + ")");
    }

    /** dup3(oldfd, newfd, 0). */
    public static void dup3(int oldfd, int newfd) throws SysException {
        Native.check(Native.raw(Nr.DUP3, oldfd, newfd, 0), "dup3(" + oldfd + ", " + newfd + ")");
    }

    /** epoll_wait(epfd, 1 event, timeoutMs): {events, data} of the event reported, or null on timeout. */
    public static long[] epollWaitOne(int epfd, int timeoutMs) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ev = a.allocate(12);
            long n = Native.raw(EPOLL_WAIT, epfd, ev.address(), 1, timeoutMs);
            if (n == -Errno.EINTR) return null;
            if (Native.check(n, "epoll_wait(" + epfd + ")") == 0) return null;
            return new long[]{ev.get(JAVA_INT, 0), ev.get(JAVA_LONG.withByteAlignment(4), 4)};
        }
    }
}
