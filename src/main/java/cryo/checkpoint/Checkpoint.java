package cryo.checkpoint;

import cryo.sys.ProcFile;
import cryo.files.FileRecord;
import cryo.files.FileTable;
import cryo.files.OpenFiles;
import cryo.image.Head;
import cryo.image.ImageWriter;
import cryo.image.Refusal;
import cryo.image.Tree;
import cryo.memory.AddressSpace;
import cryo.memory.Mapping;
import cryo.memory.PageMover;
import cryo.memory.VmaRecord;
import cryo.remote.Scratch;
import cryo.remote.Tracee;
import cryo.sys.Errno;
import cryo.sys.Nr;
import cryo.sys.Proc;
import cryo.sys.Ptrace;
import cryo.sys.SysException;
import cryo.sys.Wait;
import cryo.task.ProcStat;
import cryo.task.TaskRecord;
import cryo.task.TaskState;
import cryo.task.ThreadRecord;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/**
 * Checkpoint of a running process from outside (the kernel series' do_checkpoint() for an external task):
 * freeze it with PTRACE_SEIZE + PTRACE_INTERRUPT, read everything that will go into the image, and only
 * then open the output and stream the records, pages last. On any failure the task is released exactly as
 * it was. Every ptrace call comes from the calling thread.
 */
public final class Checkpoint {
    /** Options of one checkpoint. fault is a test hook: "after-pages" or "kill-target". */
    public record Options(boolean leaveRunning, String fault, Consumer<String> log) {
    }

    /** What was written and how long the target was frozen. */
    public record Result(long bytes, long pageBytes, long frozenNanos) {
    }

    private static final int PROT_RW = 3, MAP_PRIVATE_ANON = 0x22;

    private Checkpoint() {
    }

    public static Result run(int pid, Options opts, Output output) throws Refusal, SysException, IOException {
        ProcStat stat = validateTarget(pid);
        Timings.mark("start");
        long t0 = System.nanoTime();
        Tracee t;
        try {
            t = Tracee.seize(pid, Ptrace.O_TRACESYSGOOD);
        } catch (SysException e) {
            if (e.errno() == Errno.EPERM) throw new Refusal(pid, "cannot be traced by this user (ptrace: Operation not permitted)");
            if (e.errno() == Errno.ESRCH) throw new Refusal(pid, "exited during checkpoint");
            throw e;
        }
        Timings.mark("seize");
        long sigmask;
        try {
            sigmask = Ptrace.getSigmask(pid);
            // Every remote syscall would let the task dequeue a pending signal: block them all meanwhile.
            Ptrace.setSigmask(pid, ~0L);
        } catch (SysException e) {
            releaseQuietly(t, 0, false, opts);
            throw e;
        }
        boolean done = false;
        try {
            if ("kill-target".equals(opts.fault())) Proc.kill(pid, Proc.SIGKILL);
            Result r = dump(t, pid, sigmask, opts, output, t0);
            done = true;
            return r;
        } catch (SysException e) {
            if (e.errno() == Errno.ESRCH || !Files.exists(Path.of("/proc/" + pid))) throw new Refusal(pid, "exited during checkpoint");
            throw e;
        } finally {
            output.abortUnlessCommitted();
            if (!done) releaseQuietly(t, sigmask, false, opts);
        }
    }

    private static Result dump(Tracee t, int pid, long sigmask, Options opts, Output output, long t0)
            throws Refusal, SysException, IOException {
        ProcStat stat = ProcStat.read(pid);
        if (stat == null) throw new Refusal(pid, "exited during checkpoint");
        checkAlone(pid);
        List<Mapping> maps = Mapping.read(pid);
        FileTable files = new FileTable();
        t.useSyscallAt(AddressSpace.findSyscallInsn(pid, maps));
        long scratch = t.syscall("mmap(scratch)", Nr.MMAP, 0, Scratch.SIZE, PROT_RW, MAP_PRIVATE_ANON, -1, 0);
        t.useScratch(scratch, Scratch.SIZE);
        TaskRecord task;
        ThreadRecord thread;
        AddressSpace.Dump mem;
        try {
            Timings.mark("maps");
            task = TaskState.checkpointTask(t, stat);
            thread = TaskState.checkpointThread(t, pid, sigmask);
            Timings.mark("task state");
            mem = AddressSpace.checkpoint(t, maps, statMm(stat), files);
            Timings.mark("pagemap");
        } finally {
            t.syscall("munmap(scratch)", Nr.MUNMAP, scratch, Scratch.SIZE);
        }
        t.restoreRegs();
        OpenFiles.Table fds = OpenFiles.checkpoint(pid, files);

        Tree tree = new Tree(List.of(new Tree.Process(pid, stat.ppid(), stat.pgid(), stat.sid(), stat.exitSignal(), false, 0, new int[]{pid})));
        byte[] xstate = thread.xstate();
        Head head = new Head(Head.VERSION, "x86_64", Proc.kernelRelease(), 4096, xstate.length, xfeatures(xstate),
                System.currentTimeMillis(), 0);

        WritableByteChannel ch = output.open();
        ImageWriter w = new ImageWriter(ch);
        w.write(head);
        w.write(tree);
        for (FileRecord f : files.files()) w.write(f);
        for (var d : fds.descriptions()) w.write(d);
        w.write(task);
        w.write(thread);
        w.write(mem.mm());
        for (VmaRecord v : mem.vmas()) w.write(v);
        for (var fd : fds.fds()) w.write(fd);
        Timings.mark("files and metadata");
        PageMover.dump(pid, mem.pages(), mem.unreadablePages(), w);
        Timings.mark("pages");
        if ("after-pages".equals(opts.fault())) throw new IOException("test fault after-pages");
        w.finish();
        output.commit();
        Timings.mark("commit");
        long frozen = System.nanoTime() - t0;
        if (opts.leaveRunning()) {
            t.resume(sigmask);
        } else {
            kill(pid);
        }
        return new Result(w.written(), mem.pageBytes(), frozen);
    }

    private static ProcStat validateTarget(int pid) throws Refusal, IOException {
        if (pid <= 0) throw new Refusal(pid, "is not a valid pid");
        ProcStat stat = ProcStat.read(pid);
        if (stat == null) throw new Refusal(pid, "no such process");
        if (stat.kernelThread()) throw new Refusal(pid, "is a kernel thread (" + stat.comm + ")");
        if (stat.state == 'Z') throw new Refusal(pid, "is a zombie");
        if (pid == Proc.getpid()) throw new Refusal(pid, "is cryo itself");
        for (ProcessHandle h = ProcessHandle.current(); h != null; h = h.parent().orElse(null)) {
            if (h.pid() == pid) throw new Refusal(pid, "is an ancestor of cryo");
        }
        return stat;
    }

    /** Single-process checkpoint: more threads or children are refused (whole trees come later). */
    private static void checkAlone(int pid) throws Refusal, IOException {
        try (var s = Files.list(Path.of("/proc/" + pid + "/task"))) {
            long n = s.count();
            if (n > 1) throw new Refusal(pid, "has " + n + " threads: multi-threaded processes are not supported yet");
        }
        String children = ProcFile.read("/proc/" + pid + "/task/" + pid + "/children").trim();
        if (!children.isEmpty()) throw new Refusal(pid, "has children (" + children + "): process trees are not supported yet");
    }

    /** start_code, end_code, start_stack, start_data, end_data, start_brk, arg_start, arg_end, env_start, env_end. */
    private static long[] statMm(ProcStat s) {
        return new long[]{s.field(26), s.field(27), s.field(28), s.field(45), s.field(46), s.field(47), s.field(48),
                s.field(49), s.field(50), s.field(51)};
    }

    /** XCR0 as saved in the XSAVE area's software-reserved bytes (fpu/signal.c: struct _fpx_sw_bytes). */
    private static long xfeatures(byte[] xstate) {
        ByteBuffer b = ByteBuffer.wrap(xstate).order(ByteOrder.LITTLE_ENDIAN);
        return b.getLong(464 + 8);
    }

    private static void kill(int pid) throws SysException {
        Proc.kill(pid, Proc.SIGKILL);
        while (true) {
            var st = Wait.waitFor(pid, Tracee.WAIT_MS);
            if (st.gone()) return;
            Ptrace.cont(pid, 0);
        }
    }

    private static void releaseQuietly(Tracee t, long sigmask, boolean kill, Options opts) {
        try {
            t.resume(sigmask);
        } catch (SysException e) {
            opts.log().accept("warning: could not release task " + t.tid + ": " + e.getMessage());
        }
    }
}
