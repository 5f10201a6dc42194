package cryo.restart;

import cryo.files.FileRecord;
import cryo.files.OpenFileRecord;
import cryo.files.OpenFiles;
import cryo.image.Image;
import cryo.image.ImageException;
import cryo.ipc.Ipc;
import cryo.memory.VmaRecord;
import cryo.sys.Proc;
import cryo.sys.ProcFile;
import cryo.sys.SysException;
import cryo.task.GroupLeaders;
import cryo.task.ProcStat;
import cryo.task.TaskState;
import cryo.task.Terminal;

import java.io.IOException;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * What restart checks before it creates anything: pids free, files the same, the vdso of this kernel the
 * size the image has, limits, credentials and terminal cryo can give, descriptions leading outside given an
 * fd, IPC ids free. A failure here leaves nothing to undo.
 */
final class Preflight {
    private Preflight() {
    }

    /** Runs every check; returns the terminal handover for a foreground job (Terminal.preflight). */
    static Terminal.Handover run(Image image, Restart.Options opts, GroupLeaders groupLeaders, boolean newIpcNs)
            throws ImageException, SysException, IOException {
        ofImage(image, opts.inheritFds(), opts.freshPidNs());
        MachineCheck.check(image);
        cryo.inet.TcpSocketFile.preflight(image);
        // A container's pids are in a pid namespace restart creates (--fresh-pid-ns: that of cryo's init): nothing on the host can hold them.
        boolean ownPidNs = image.namespaces != null || opts.freshPidNs();
        for (Image.ProcessImage p : ownPidNs ? java.util.List.<Image.ProcessImage>of() : image.processes.values()) {
            for (int tid : p.entry.zombie() ? new int[]{p.entry.pid()} : p.entry.tids()) {
                ProcStat s = ProcStat.read(tid);
                // A dead task whose parent has yet to reap it (the original of a piped checkpoint, a moment
                // ago), or one still frozen by that checkpoint ('t') or dying (SIGKILL pending: stat field 31;
                // or exiting, PF_EXITING in field 9, freeing a large memory): give it two seconds before calling
                // the pid taken.
                // Polled every 5 ms: in a live migration this wait is part of the downtime.
                for (int i = 0; i < 400 && s != null && (s.state == 'Z' || s.state == 'X' || s.state == 't'
                        || (s.field(31) & (1L << 8)) != 0 || (s.field(9) & 0x4) != 0); i++) {
                    try {
                        Thread.sleep(5);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                    s = ProcStat.read(tid);
                }
                if (s != null) {
                    throw new ImageException("pid " + tid + " is in use: held by " + s.comm + " (state " + s.state + ")"
                            + (s.state == 'Z' ? ", a zombie its parent has not reaped yet" : "")
                            + " (cryo restart --fresh-pid-ns IMG restarts the tree in a new pid namespace)");
                }
            }
        }
        Set<Integer> mapped = new HashSet<>();
        for (Image.ProcessImage p : image.processes.values()) {
            if (p.mm != null) mapped.add(p.mm.exeFile());
            for (VmaRecord v : p.vmas) if (v.kind() == VmaRecord.Kind.FILE) mapped.add(v.file());
        }
        // Files named only by inotify watches, neither open nor mapped.
        Set<Integer> watchedOnly = new HashSet<>(image.inotifyWatches.files());
        watchedOnly.removeAll(mapped);
        for (var d : image.openFiles.values()) watchedOnly.remove(d.file());
        // A tree that held file locks gets its files back only as it left them (no other writer meanwhile).
        boolean locked = image.processes.values().stream().anyMatch(p -> !p.locks.isEmpty());
        for (FileRecord f : image.files.values()) {
            // A container's file is where its root and bind mounts put it on the host; none on a tmpfs restart makes (cryo.mounts).
            String host = f.host() ? f.path() : image.mounts().hostPath(f.path());
            if (host == null) continue;
            FileRecord onHost = host.equals(f.path()) ? f : new FileRecord(f.objref(), host, f.dev(), f.ino(), f.mode(), f.size(), f.mtimeNanos(), f.ctimeNanos());
            if (watchedOnly.contains(f.objref())) {
                // a watcher's files change while it is away: only that each is still the same file matters
                OpenFiles.verify(onHost, false, false, w -> { });
            } else {
                OpenFiles.verify(onHost, mapped.contains(f.objref()), locked && f.regular(), w -> opts.log().accept("warning: " + w));
            }
        }
        checkVdso(image);
        image.eventLoops.preflightInherited(image.openFiles, opts.inheritFds());
        cryo.mounts.Mounts.preflight(image);
        if (!ownPidNs) groupLeaders.preflight();   // a container's ids (or --fresh-pid-ns's) are in its new pid namespace
        var tasks = image.processes.values().stream().filter(p -> p.task != null).map(p -> p.task).toList();
        TaskState.preflight(tasks);
        cryo.tty.SessionTerminal.preflight(image, opts.detach(), w -> opts.log().accept("warning: " + w));
        Terminal.Handover terminal = cryo.tty.SessionTerminal.planned() ? null : Terminal.preflight(image.tree, tasks, cryo.task.JobStop.terminalJobs(image), opts.detach());
        if (terminal != null) cryo.tty.JobModes.prepare(terminal.fd(), image.terminal);   // cryo's modes, before anything changes them
        if (terminal != null && opts.freshPidNs()) {
            Terminal.release(terminal);
            // cryo waits for the init, which does not stop with the job: it could not follow its stops
            throw new ImageException("task " + image.tree.root().pid() + "'s tree was its terminal's foreground job in a process group of its own: not supported with --fresh-pid-ns");
        }
        Ipc.check(image.ipc.values(), newIpcNs);
        String kernel = Proc.kernelRelease();
        if (!kernel.equals(image.head.kernelRelease())) {
            opts.log().accept("warning: image taken on kernel " + image.head.kernelRelease() + ", this is " + kernel);
        }
        return terminal;
    }

    /**
     * The checks of the image against restart's options that need no state of this machine (Restart.validate
     * runs them right after reading the image, so the fuzzer reaches them too).
     */
    static void ofImage(Image image, Map<String, Integer> inheritFds, boolean freshPidNs) throws ImageException {
        // A container's pids are in a pid namespace restart creates: nothing on the host can hold them.
        if (freshPidNs && image.namespaces != null) {
            throw new ImageException("--fresh-pid-ns: the image is a container (its root is the init of its own pid namespace), which restarts in a new pid namespace without it");
        }
        for (var d : image.openFiles.values()) {
            if (d.kind() == OpenFileRecord.Kind.INHERITED && d.inheritFd() == OpenFileRecord.EXTERNAL && !inheritFds.containsKey(d.description())) {
                throw new ImageException(d.description() + " led outside the tree at checkpoint: give it an fd with --inherit-fd FD:" + d.description());
            }
        }
    }

    /** The vdso is mapped by this kernel, not from the image: its layout must be the one the image has. */
    private static void checkVdso(Image image) throws ImageException, IOException {
        Map<String, Long> mine = vdsoOfCryo();
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

    /** Sizes of cryo's own [vvar], [vvar_vclock] and [vdso], from /proc/self/maps (smaps of a JVM is large). */
    private static Map<String, Long> vdsoOfCryo() throws IOException {
        Map<String, Long> out = new HashMap<>();
        for (String line : ProcFile.read("/proc/self/maps").split("\n")) {
            int sp = line.lastIndexOf(' ');
            String name = line.substring(sp + 1);
            if (!name.startsWith("[v")) continue;
            int dash = line.indexOf('-'), end = line.indexOf(' ');
            out.put(name, Long.parseUnsignedLong(line, dash + 1, end, 16) - Long.parseUnsignedLong(line, 0, dash, 16));
        }
        return out;
    }
}
