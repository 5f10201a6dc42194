package cryo.lazy;

import cryo.image.DataCheck;
import cryo.image.ImageException;
import cryo.memory.PagesRecord;
import cryo.sys.Errno;
import cryo.sys.EventPoll;
import cryo.sys.Fd;
import cryo.sys.SysException;
import cryo.sys.Userfaultfd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * Serves the faults of lazily restored address spaces from the mapped image (UFFDIO_COPY; UFFDIO_ZEROPAGE
 * where the image holds no data) on one thread, while a second one copies what is still pending in address
 * order in large UFFDIO_COPY calls. Non-cooperative events keep the pending ranges true: EVENT_REMOVE and
 * EVENT_UNMAP drop them (a later fault there gets a zero page, never stale image data), EVENT_REMAP moves them,
 * EVENT_FORK adds the child's address space with a copy of its parent's pending ranges. When nothing is
 * pending any more the userfaultfds are closed (the kernel unregisters the ranges) and the lazy phase ends.
 */
public final class PageServer {
    private static final long PAGE = 4096, FAULT_BYTES = 16 * PAGE, FILL_BYTES = 1L << 20;
    private static final long WAKE = -1;
    private static final int MSGS = 64;

    private final int epfd, wakeFd;
    private final List<Space> spaces = new CopyOnWriteArrayList<>();
    private final DataCheck check;
    private final Set<cryo.image.PayloadRecord> verified = Collections.synchronizedSet(Collections.newSetFromMap(new IdentityHashMap<>()));
    private final Consumer<String> log;
    private final CountDownLatch ended = new CountDownLatch(1);
    private volatile boolean stop, fillDone, closed;
    private volatile Throwable failure;
    private volatile Runnable onFailure = () -> { };
    private Thread server, filler;
    private long fillStart;
    /** For CRYO_TIMING: faults answered with image data, with zero pages, and bytes copied by faults and by the fill. */
    private long faults, zeroFaults, faultBytes, fillBytes;

    /** check: verifies a record's CRC before its first copy (null: PayloadRecord.verify). */
    public PageServer(DataCheck check, Consumer<String> log) throws SysException {
        this.check = check;
        this.log = log;
        this.epfd = EventPoll.epollCreate();
        this.wakeFd = EventPoll.eventfd(EventPoll.EFD_NONBLOCK | EventPoll.EFD_CLOEXEC);
        EventPoll.epollAdd(epfd, wakeFd, EventPoll.EPOLLIN, WAKE);
    }

    /** Serves uffd (already registered) whose pending ranges are pieces; starts serving at once. */
    public synchronized void add(int uffd, String name, List<Space.Piece> pieces) throws SysException {
        Space s = new Space(uffd, name);
        for (Space.Piece p : pieces) s.add(p);
        addSpace(s);
        if (server == null) {
            server = Thread.ofPlatform().name("cryo-lazy-server").daemon().start(this::serve);
        }
    }

    private void addSpace(Space s) throws SysException {
        spaces.add(s);
        EventPoll.epollAdd(epfd, s.uffd, EventPoll.EPOLLIN, spaces.size() - 1);
    }

    /** True when no address space was registered: nothing is lazy. */
    public boolean isEmpty() {
        return spaces.isEmpty();
    }

    /** What runs when the server fails (bad image data, an unexpected error): the tree must not run on. */
    public void onFailure(Runnable r) {
        onFailure = r;
    }

    /**
     * Starts the background fill: the tree runs now. CRYO_LAZY_HOLD (for tests) leaves it unstarted: only
     * faults are served, and the lazy phase lasts until cryo is killed.
     */
    public synchronized void startFill(boolean hold) {
        fillStart = System.nanoTime();
        if (hold) return;
        if (filler == null) filler = Thread.ofPlatform().name("cryo-lazy-fill").daemon().start(this::fill);
    }

    /** True once every pending range is in and the userfaultfds are closed. */
    public boolean finished() {
        return ended.getCount() == 0 && failure == null;
    }

    public Throwable failure() {
        return failure;
    }

    public boolean awaitEnd(long millis) throws InterruptedException {
        return ended.await(millis, TimeUnit.MILLISECONDS);
    }

    public long pendingBytes() {
        long n = 0;
        for (Space s : spaces) {
            s.lock.lock();
            try {
                n += s.gone ? 0 : s.pendingBytes();
            } finally {
                s.lock.unlock();
            }
        }
        return n;
    }

    /**
     * Stops serving without closing anything (before the tree runs: its tasks are all stopped, no fault is in
     * flight) and returns the spaces, for another process to serve them (-d).
     */
    public List<Space> handOver() {
        stop = true;
        wake();
        join(server);
        return List.copyOf(spaces);
    }

    /** Stops both threads and closes every userfaultfd (the kernel unregisters their ranges). */
    public void close() {
        stop = true;
        wake();
        join(filler);
        join(server);
        closeAll();
    }

    private static void join(Thread t) {
        if (t == null || t == Thread.currentThread()) return;
        boolean interrupted = false;
        while (t.isAlive()) {
            try {
                t.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    private synchronized void closeAll() {
        if (closed) return;
        closed = true;
        for (Space s : spaces) {
            s.lock.lock();
            try {
                Fd.close(s.uffd);
            } finally {
                s.lock.unlock();
            }
        }
        Fd.close(wakeFd);
        Fd.close(epfd);
        ended.countDown();
        if (fillStart != 0 && failure == null && !stop) {
            cryo.checkpoint.Timings.span("lazy fill", System.nanoTime() - fillStart);
            cryo.checkpoint.Timings.note(new StringBuilder("lazy: ").append(spaces.size()).append(" address spaces, ").append(faults)
                    .append(" faults with data (").append(faultBytes).append(" bytes), ").append(zeroFaults).append(" zero-page faults, ")
                    .append(fillBytes).append(" bytes by the fill").toString());
        }
    }

    private void wake() {
        try {
            if (!closed) EventPoll.eventfdWrite(wakeFd, 1);
        } catch (SysException e) {
            // closed meanwhile
        }
    }

    private void fail(Throwable t) {
        if (failure == null) {
            failure = t;
            log.accept("lazy pages: " + t.getMessage() + ": the restored tree is killed");
            onFailure.run();
        }
        stop = true;
        wake();
    }

    // ---------------------------------------------------------------- the fault server

    private void serve() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate((long) Userfaultfd.MSG_SIZE * MSGS, 8);
            MemorySegment drain = a.allocate(8);
            List<long[]> retry = new ArrayList<>();     // {space index, address} of faults to answer again
            while (!stop) {
                long[] ev = EventPoll.epollWaitOne(epfd, retry.isEmpty() ? 100 : 1);
                if (ev != null && ev[1] == WAKE) {
                    Fd.readFully(wakeFd, drain, "eventfd");
                } else if (ev != null) {
                    serve((int) ev[1], buf, retry);
                }
                for (long[] r : List.copyOf(retry)) {
                    retry.remove(r);
                    serve((int) r[0], buf, retry);
                    Space s = spaces.get((int) r[0]);
                    s.lock.lock();
                    try {
                        if (!fault(s, r[1])) retry.add(r);
                    } finally {
                        s.lock.unlock();
                    }
                }
                if (fillDone && allDone()) {
                    closeAll();
                    return;
                }
            }
        } catch (Throwable t) {
            fail(t);
        }
    }

    private boolean allDone() {
        for (Space s : spaces) {
            s.lock.lock();
            try {
                if (!s.done()) return false;
            } finally {
                s.lock.unlock();
            }
        }
        return true;
    }

    /** Reads and handles every message queued on space i, under its lock. */
    private void serve(int i, MemorySegment buf, List<long[]> retry) throws SysException, ImageException {
        Space s = spaces.get(i);
        s.lock.lock();
        try {
            int n;
            while ((n = Userfaultfd.read(s.uffd, buf)) > 0) {
                for (int m = 0; m < n; m++) {
                    long off = (long) m * Userfaultfd.MSG_SIZE;
                    switch (Userfaultfd.event(buf, off)) {
                        case Userfaultfd.EVENT_PAGEFAULT -> {
                            long addr = Userfaultfd.faultAddress(buf, off) & ~(PAGE - 1);
                            if (!fault(s, addr)) retry.add(new long[]{i, addr});
                        }
                        case Userfaultfd.EVENT_FORK -> addSpace(s.forked(Userfaultfd.forkUffd(buf, off)));
                        case Userfaultfd.EVENT_REMAP -> s.move(Userfaultfd.arg(buf, off, 0), Userfaultfd.arg(buf, off, 1), Userfaultfd.arg(buf, off, 2));
                        case Userfaultfd.EVENT_REMOVE, Userfaultfd.EVENT_UNMAP -> s.take(Userfaultfd.arg(buf, off, 0), Userfaultfd.arg(buf, off, 1));
                        default -> throw new SysException("read(userfaultfd) of " + s.name + ": unknown event 0x" + Integer.toHexString(Userfaultfd.event(buf, off)), Errno.EINVAL);
                    }
                }
            }
        } finally {
            s.lock.unlock();
        }
    }

    /** Answers a fault at addr (under the space's lock); false when an event must be read first (EAGAIN). */
    private boolean fault(Space s, long addr) throws SysException, ImageException {
        if (s.gone) return true;
        Space.Piece p = s.at(addr);
        if (p != null) {
            faults++;
            return copy(s, p.clip(addr, Math.min(p.end(), addr + FAULT_BYTES)), true);
        }
        zeroFaults++;
        long r = Userfaultfd.zeropage(s.uffd, addr, PAGE, 0);
        if (r == -Errno.EAGAIN) return false;
        if (r == -Errno.EEXIST) wakeQuietly(s, addr);
        return true;
    }

    /** Copies piece (pending, under the lock); false on EAGAIN, with what was copied taken out of pending. */
    private boolean copy(Space s, Space.Piece piece, boolean fault) throws SysException, ImageException {
        PagesRecord rec = piece.record();
        if (!verified.contains(rec.checked())) {   // a pre-copied record's pieces share its CRC: checked once
            if (check != null) check.verify(rec);
            else rec.verify();
            verified.add(rec.checked());
        }
        long dst = piece.start();
        while (dst < piece.end()) {
            long src = rec.data().address() + piece.off() + (dst - piece.start());
            long r = Userfaultfd.copy(s.uffd, dst, src, piece.end() - dst, 0);
            if (r > 0) {
                if (fault) faultBytes += r;
                else fillBytes += r;
                s.take(dst, dst + r);
                dst += r;
            } else if (r == -Errno.EEXIST) {
                s.take(dst, dst + PAGE);
                wakeQuietly(s, dst);
                dst += PAGE;
            } else if (r == -Errno.EAGAIN) {
                return false;
            } else if (r == -Errno.ENOENT) {
                s.take(dst, piece.end());   // unmapped meanwhile: its event drops the rest
                return true;
            } else {
                s.gone = true;              // ESRCH: the address space is gone (exit, exec)
                s.clear();
                return true;
            }
        }
        return true;
    }

    private static void wakeQuietly(Space s, long addr) {
        try {
            Userfaultfd.wake(s.uffd, addr, PAGE);
        } catch (SysException e) {
            // the range went away: nobody waits there
        }
    }

    // ---------------------------------------------------------------- the background fill

    private void fill() {
        try {
            // the program's faults and the program itself come first (2 CPUs may be all there is)
            cryo.sys.Sched.setpriority(10);
            while (!stop) {
                boolean all = true;
                for (Space s : spaces) {
                    while (!stop) {
                        boolean again;
                        s.lock.lock();
                        try {
                            Space.Piece p = s.done() ? null : s.first();
                            if (p == null) break;
                            again = !copy(s, p.clip(p.start(), Math.min(p.end(), p.start() + FILL_BYTES)), false);
                        } finally {
                            s.lock.unlock();
                        }
                        if (again) {
                            all = false;
                            LockSupport.parkNanos(50_000);   // the server reads the pending event
                        }
                    }
                }
                if (all && allDone()) {
                    fillDone = true;
                    wake();
                    return;
                }
            }
        } catch (Throwable t) {
            fail(t);
        }
    }
}
