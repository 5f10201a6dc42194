package cryo.lazy;

import cryo.image.Image;
import cryo.memory.LazyMemory;
import cryo.memory.PagesRecord;
import cryo.memory.TaskUserfaultfd;
import cryo.memory.VmaRecord;
import cryo.remote.Tracee;
import cryo.sys.Errno;
import cryo.sys.Fd;
import cryo.sys.Proc;
import cryo.sys.Ptrace;
import cryo.sys.SysException;
import cryo.sys.Userfaultfd;
import cryo.sys.WaitStatus;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * `cryo restart --lazy`: the tree runs as soon as everything but the contents of its private anonymous memory
 * is back (LazyPlan); those pages come in on first touch through a userfaultfd per process (made in the task,
 * held by cryo alone: TaskUserfaultfd) and from a background fill (PageServer), while a Guard keeps the tree
 * traced with PTRACE_O_EXITKILL so that the death of the server kills the tree rather than leaving it to read
 * zeros. In the foreground cryo serves in its own threads; with -d a server process of its own (ServerProcess)
 * takes the userfaultfds over and exits after the last page.
 */
public final class LazyRestart implements LazyMemory {
    static final long FEATURES = Userfaultfd.FEATURE_EVENT_FORK | Userfaultfd.FEATURE_EVENT_REMAP
            | Userfaultfd.FEATURE_EVENT_REMOVE | Userfaultfd.FEATURE_EVENT_UNMAP;

    private final LazyPlan plan;
    private final MemorySegment image;
    private final Consumer<String> log;
    private final PageServer server;
    private final ServerProcess process;   // -d: the process that serves once cryo is gone
    private final List<Integer> tids = new ArrayList<>();
    private Guard guard;

    private LazyRestart(LazyPlan plan, MemorySegment image, Consumer<String> log, ServerProcess process) throws SysException {
        this.plan = plan;
        this.image = image;
        this.log = log;
        this.process = process;
        this.server = new PageServer(null, log);
    }

    /**
     * Plans the lazy restart of image, mapped at mapped (which must stay mapped until finish() returns).
     * server: the server process of -d (ServerProcess.spawn), null in the foreground; killed when nothing is lazy.
     */
    public static LazyRestart prepare(Image image, MemorySegment mapped, ServerProcess server, Consumer<String> log) throws SysException {
        LazyPlan plan = LazyPlan.of(image);
        if (plan.isEmpty() && server != null) {
            server.kill();
            server = null;
        }
        return new LazyRestart(plan, mapped, log, server);
    }

    /** The PAGES records left for first touch: the restart neither writes nor checks them. */
    public java.util.Set<PagesRecord> records() {
        return plan.records();
    }

    /**
     * Registers the lazy VMAs of the task's process (mapped, not yet filled) with a userfaultfd of its own and
     * serves its faults from now on, before any later remote syscall can touch that memory; returns the pages
     * still to write now. A VMA the kernel will not register leaves the whole process eager.
     */
    @Override
    public List<PagesRecord> defer(Tracee t, List<PagesRecord> pages) throws SysException {
        if (pages.isEmpty()) return pages;
        int pid = pages.getFirst().pid();
        List<VmaRecord> vmas = plan.vmas(pid);
        if (vmas.isEmpty()) return pages;
        int uffd = TaskUserfaultfd.open(t, Userfaultfd.O_NONBLOCK, FEATURES);
        try {
            for (VmaRecord v : vmas) Userfaultfd.register(uffd, v.start(), v.size(), Userfaultfd.REGISTER_MODE_MISSING);
        } catch (SysException e) {
            Fd.close(uffd);
            log.accept("warning: " + e.getMessage() + ": the memory of task " + pid + " is restored at once");
            plan.records().removeAll(plan.pages(pid));
            return pages;
        }
        List<Space.Piece> pieces = new ArrayList<>();
        for (PagesRecord r : plan.pages(pid)) pieces.add(new Space.Piece(r.addr(), r.addr() + r.data().byteSize(), r, 0));
        server.add(uffd, "task " + t.tid, pieces);
        List<PagesRecord> now = new ArrayList<>();
        for (PagesRecord r : pages) if (!plan.records().contains(r)) now.add(r);
        return now;
    }

    /**
     * The restart's end, instead of detaching its tasks (stopped, traced by the calling thread, children
     * first): in the foreground they run on traced by this thread and the fill starts; with -d the server
     * process takes the userfaultfds and seizes the tree once cryo has let it go. Returns false when nothing
     * is lazy: the caller detaches as usual.
     */
    public boolean release(List<Tracee> ready) throws SysException, IOException {
        if (server.isEmpty()) {
            server.close();
            if (process != null) process.kill();
            return false;
        }
        for (Tracee t : ready) tids.add(t.tid);
        if (process == null) {
            guard = new Guard();
            server.onFailure(() -> { });     // the guard polls failure() and kills the tree
            server.startFill(System.getenv("CRYO_LAZY_HOLD") != null);
            guard.adoptStopped(tids);
            return true;
        }
        List<Space> spaces = server.handOver();
        process.handOver(image, spaces, tids);
        cryo.sys.KillPoint.reach("restart-lazy-handover");
        for (int tid : tids) {
            try {
                Ptrace.detach(tid, 0);
            } catch (SysException e) {
                if (e.errno() != Errno.ESRCH) throw e;
            }
            cryo.sys.KillPoint.reach("restart-detached");
        }
        try {
            process.awaitSeized();
        } catch (SysException | IOException e) {
            for (int tid : tids) {
                try {
                    Proc.kill(tid, Proc.SIGKILL);
                } catch (SysException gone) {
                    // gone already
                }
            }
            throw e;
        } finally {
            for (Space s : spaces) Fd.close(s.uffd);   // the server process holds them now (or the tree is dead)
        }
        return true;
    }

    /**
     * Foreground: serves until the last page is in (or the tree is gone), then lets the tree go. Returns the
     * exit status of host pid root if it ended meanwhile (reaped here, as its parent), else null.
     */
    public WaitStatus finish(int root) throws SysException {
        if (guard == null) return null;
        cryo.sys.KillPoint.reach("restart-lazy-serving");
        try {
            guard.run(server::finished, () -> server.failure() != null);
        } finally {
            server.close();
        }
        if (server.failure() != null) throw new SysException("lazy restart: " + server.failure().getMessage() + "; the tree was killed", Errno.EIO);
        return guard.exits.get(root);
    }

    /** A failed restart: stops serving (the restart kills the tree) and the server process. */
    public void abort() {
        server.close();
        if (process != null) process.kill();
    }
}
