package cryo.restart;

import cryo.checkpoint.Timings;
import cryo.files.FdBroker;
import cryo.files.FdRecord;
import cryo.files.FileRecord;
import cryo.files.OpenFiles;
import cryo.image.Image;
import cryo.image.ImageException;
import cryo.memory.Mapping;
import cryo.memory.MemoryRestore;
import cryo.memory.VmaRecord;
import cryo.memory.Vmas;
import cryo.remote.Scratch;
import cryo.remote.Tracee;
import cryo.sys.Errno;
import cryo.sys.Fd;
import cryo.sys.Nr;
import cryo.sys.Proc;
import cryo.sys.Ptrace;
import cryo.sys.Regs;
import cryo.sys.Spawn;
import cryo.sys.SysException;
import cryo.sys.Wait;
import cryo.sys.WaitStatus;
import cryo.task.ProcStat;
import cryo.task.TaskState;
import cryo.task.ThreadRecord;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Restart driven from the JVM (the kernel series' do_restart()): a stub process is spawned and seized, the
 * task is created from it with clone3(set_tid) so it gets its old pid, and then rebuilt by remote syscalls:
 * memory, files, signals, registers last. Until the final detach every created task is killed on failure
 * (PTRACE_O_EXITKILL covers cryo dying too), so a failed restart leaves nothing behind.
 */
public final class Restart {
    public record Options(Consumer<String> log) {
    }

    private static final int CLONE_PARENT = 0x8000;
    private static final int PROT_RW = 3, PROT_RX = 5, MAP_PRIVATE_ANON_FIXED_NOREPLACE = 0x22 | 0x100000;
    private static final long GADGET = 4096, HOLE = GADGET + Scratch.SIZE;

    private final Image image;
    private final Options opts;
    private final List<Integer> created = new ArrayList<>();

    private Restart(Image image, Options opts) {
        this.image = image;
        this.opts = opts;
    }

    /** Restores the image; returns the root pid, detached and running. */
    public static int run(Image image, Options opts) throws ImageException, SysException, IOException {
        return new Restart(image, opts).restore();
    }

    private int restore() throws ImageException, SysException, IOException {
        preflight();
        Timings.mark("preflight");
        Image.ProcessImage root = image.processes.get(image.tree.root().pid());
        int brokerFd = 3;
        for (Image.ProcessImage p : image.processes.values()) for (FdRecord f : p.fds) brokerFd = Math.max(brokerFd, f.fd() + 1);
        boolean ok = false;
        try (FdBroker broker = new FdBroker(brokerFd)) {
            Tracee stub = spawnStub(broker);
            long hole = findHole(root.vmas, stub.tid);
            long scratch = hole + GADGET;
            makeGadget(stub, hole);
            Tracee task = createTask(stub, root.entry.pid(), CLONE_PARENT, 0);
            task.useSyscallAt(hole);
            task.useScratch(scratch, Scratch.SIZE);
            killCreated(stub.tid);
            Timings.mark("stub and clone");
            restoreProcess(task, root, broker, hole);
            ok = true;
            return task.tid;
        } finally {
            if (!ok) killCreated(-1);
        }
    }

    // ---------------------------------------------------------------- checks before anything is created

    private void preflight() throws ImageException, SysException, IOException {
        for (Image.ProcessImage p : image.processes.values()) {
            for (int tid : p.entry.zombie() ? new int[]{p.entry.pid()} : p.entry.tids()) {
                ProcStat s = ProcStat.read(tid);
                if (s != null) {
                    throw new ImageException("pid " + tid + " is in use by " + s.comm + " (state " + s.state + ")"
                            + (s.state == 'Z' ? ": a zombie its parent has not reaped yet" : ""));
                }
            }
        }
        Set<Integer> mapped = new HashSet<>();
        for (Image.ProcessImage p : image.processes.values()) {
            if (p.mm != null) mapped.add(p.mm.exeFile());
            for (VmaRecord v : p.vmas) if (v.file() != 0) mapped.add(v.file());
        }
        for (FileRecord f : image.files.values()) OpenFiles.verify(f, mapped.contains(f.objref()), w -> opts.log().accept("warning: " + w));
        checkVdso();
        String kernel = Proc.kernelRelease();
        if (!kernel.equals(image.head.kernelRelease())) {
            opts.log().accept("warning: image taken on kernel " + image.head.kernelRelease() + ", this is " + kernel);
        }
    }

    /** The vdso is mapped by this kernel, not from the image: its layout must be the one the image has. */
    private void checkVdso() throws ImageException, IOException {
        Map<String, Long> mine = new HashMap<>();
        for (Mapping m : Mapping.read((int) ProcessHandle.current().pid())) mine.put(m.path(), m.end() - m.start());
        for (Image.ProcessImage p : image.processes.values()) {
            for (VmaRecord v : p.vmas) {
                if (!v.isVdso()) continue;
                String name = switch (v.kind()) {
                    case VVAR -> "[vvar]";
                    case VVAR_VCLOCK -> "[vvar_vclock]";
                    default -> "[vdso]";
                };
                Long size = mine.get(name);
                if (size == null || size != v.size()) {
                    throw new ImageException("record VMA of pid " + p.entry.pid() + ": " + name + " is " + v.size() / 4096
                            + " pages in the image, " + (size == null ? "absent" : size / 4096 + " pages") + " on this kernel");
                }
            }
        }
    }

    // ---------------------------------------------------------------- the stub and task creation

    private Tracee spawnStub(FdBroker broker) throws SysException, IOException, ImageException {
        int memfd = Fd.memfd("cryo-stub");
        int pid;
        try {
            try (Arena a = Arena.ofConfined()) {
                Fd.writeFully(memfd, a.allocateFrom(java.lang.foreign.ValueLayout.JAVA_BYTE, Stub.elf()), "stub");
            }
            pid = Spawn.spawn("/proc/self/fd/" + memfd, new String[]{"cryo-stub"}, broker.taskEnd, broker.remoteFd);
        } finally {
            Fd.close(memfd);
        }
        created.add(pid);
        Tracee stub = Tracee.seize(pid, Ptrace.O_TRACESYSGOOD | Ptrace.O_TRACECLONE | Ptrace.O_EXITKILL);
        Ptrace.setSigmask(pid, ~0L);
        stub.useSyscallAt(Stub.SYSCALL_INSN);
        byte[] xstate = Ptrace.getXstate(pid);
        if (xstate.length != image.head.xstateSize()) {
            throw new ImageException("record HEAD: field 'xstate_size' is " + image.head.xstateSize() + " bytes, this CPU has " + xstate.length);
        }
        return stub;
    }

    /** A free range for the gadget page and scratch: outside every VMA of the image and of the stub. */
    private static long findHole(List<VmaRecord> vmas, int stubPid) throws IOException, ImageException {
        List<long[]> used = new ArrayList<>();
        for (VmaRecord v : vmas) used.add(new long[]{v.start(), v.end()});
        for (Mapping m : Mapping.read(stubPid)) used.add(new long[]{m.start(), m.end()});
        used.sort((x, y) -> Long.compare(x[0], y[0]));
        long at = 0x100000;
        for (long[] u : used) {
            if (u[0] >= at + HOLE) break;
            at = Math.max(at, u[1]);
        }
        if (at + HOLE > Vmas.TASK_SIZE) throw new ImageException("no free address range for cryo's gadget page in the image's layout");
        return at;
    }

    /** Maps [hole, hole+HOLE) in the stub: a page with a syscall instruction, then the scratch area. */
    private static void makeGadget(Tracee stub, long hole) throws SysException {
        long r = stub.syscall("mmap(gadget)", Nr.MMAP, hole, HOLE, PROT_RW, MAP_PRIVATE_ANON_FIXED_NOREPLACE, -1, 0);
        if (r != hole) throw new SysException("remote mmap(gadget) in the stub landed at 0x" + Long.toHexString(r), Errno.EINVAL);
        stub.useScratch(hole + GADGET, Scratch.SIZE);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment insn = a.allocate(2);
            insn.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 0, (byte) 0x0f);
            insn.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 1, (byte) 0x05);
            cryo.sys.ProcessVm.write(stub.tid, insn, hole);
        }
        stub.syscall("mprotect(gadget)", Nr.MPROTECT, hole, GADGET, PROT_RX);
    }

    /** clone3 with set_tid in parent: the child gets its checkpointed pid and is auto-attached. */
    private Tracee createTask(Tracee parent, int pid, long flags, int exitSignal) throws SysException, ImageException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment args = a.allocate(88);
            args.set(JAVA_LONG, 0, flags);
            args.set(JAVA_LONG, 32, exitSignal);
            args.set(JAVA_LONG, 64, parent.scratch() + 128);   // set_tid
            args.set(JAVA_LONG, 72, 1);                        // set_tid_size
            parent.put(0, args);
            MemorySegment tid = a.allocate(8);
            tid.set(java.lang.foreign.ValueLayout.JAVA_INT, 0, pid);
            parent.put(128, tid);
            long r = parent.call(Nr.CLONE3, null, parent.scratch(), 88);
            if (r == -Errno.EEXIST) throw new ImageException("pid " + pid + " is in use");
            if (r < 0) throw new SysException("remote clone3(set_tid=" + pid + ") in task " + parent.tid, (int) -r);
            created.add((int) r);
            return Tracee.adopt((int) r);
        }
    }

    // ---------------------------------------------------------------- one process

    private void restoreProcess(Tracee t, Image.ProcessImage p, FdBroker broker, long hole) throws SysException, IOException, ImageException {
        closeInherited(t, broker.remoteFd);
        MemoryRestore.clearLayout(t, p.vmas, hole, hole + HOLE);
        Timings.mark("clear layout");
        MemoryRestore.restore(t, p.mm, p.vmas, p.pages, image.files, broker);
        Timings.mark("memory");
        Map<Integer, Integer> opened = new HashMap<>();
        try {
            OpenFiles.restore(t, broker, p.fds, image.openFiles, image.files, opened);
        } finally {
            for (var e : opened.entrySet()) {
                if (image.openFiles.get(e.getKey()).kind() == cryo.files.OpenFileRecord.Kind.PATH) Fd.close(e.getValue());
            }
        }
        if (p.entry.sid() == p.entry.pid()) {
            t.syscall("setsid", Nr.SETSID);
        } else if (p.entry.pgid() == p.entry.pid()) {
            t.syscall("setpgid", Nr.SETPGID, 0, 0);
        }
        TaskState.restoreTask(t, p.task);
        ThreadRecord th = p.threads.getFirst();
        TaskState.restoreThread(t, p.entry.pid(), th);
        OpenFiles.closeStrays(t, p.fds, broker.remoteFd);
        TaskState.restoreCredentials(t, p.task);
        t.syscall("munmap(scratch)", Nr.MUNMAP, hole + GADGET, Scratch.SIZE);
        Regs fin = TaskState.finalRegs(t, th);
        // The last call unmaps the gadget it runs from; its syscall-exit stop loads the final registers.
        long r = t.call(Nr.MUNMAP, fin, hole, GADGET);
        if (r != 0) throw new SysException("remote munmap(gadget) in task " + t.tid, (int) -r);
        Ptrace.setSigmask(t.tid, th.sigmask());
        Ptrace.detach(t.tid, 0);
        Timings.mark("files, task state, registers");
    }

    /** Closes what the stub inherited from cryo (the JVM's own fds) except 0-2 and the broker socket. */
    private static void closeInherited(Tracee t, int brokerFd) throws SysException, IOException {
        try (var s = Files.list(Path.of("/proc/" + t.tid + "/fd"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                int fd = Integer.parseInt(p.getFileName().toString());
                if (fd > 2 && fd != brokerFd) t.call(Nr.CLOSE, null, fd);
            }
        }
    }

    /** Kills every created task (all of them when except is -1) and reaps it. */
    private void killCreated(int only) {
        for (int pid : List.copyOf(created)) {
            if (only != -1 && pid != only) continue;
            try {
                Proc.kill(pid, Proc.SIGKILL);
                for (int i = 0; i < 100; i++) {
                    WaitStatus st = Wait.waitFor(pid, Tracee.WAIT_MS);
                    if (st.gone()) break;
                }
            } catch (SysException e) {
                if (e.errno() != Errno.ESRCH && e.errno() != Errno.ECHILD) opts.log().accept("warning: could not kill task " + pid + ": " + e.getMessage());
            }
            created.remove((Integer) pid);
        }
    }

    /** Foreground: waits for the restored root like a parent; returns the shell-style exit status. */
    public static int waitForExit(int pid) throws SysException {
        WaitStatus st = Wait.blocking(pid);
        return st.exited() ? st.exitCode() : 128 + st.termSignal();
    }
}
