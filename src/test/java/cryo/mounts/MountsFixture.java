package cryo.mounts;

import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageReader;
import cryo.image.ImageWriter;
import cryo.memory.AddressSpace;
import cryo.memory.Mapping;
import cryo.remote.Scratch;
import cryo.remote.Tracee;
import cryo.sys.Nr;
import cryo.sys.Proc;
import cryo.sys.Ptrace;
import cryo.sys.Spawn;
import cryo.sys.Wait;
import cryo.testing.Cleanup;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.lang.foreign.Arena;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;

/** Containers made with unshare(1) for the checkpoint side, and a bare process in a new mount namespace for the restore side. */
final class MountsFixture {
    private MountsFixture() {
    }

    /** A container from unshare --fork: pid is its init on the host. Dies (and its mounts with it) when unshare is killed. */
    record Container(cryo.testing.Proc unshare, int pid) {
    }

    /**
     * Runs script as the init's shell of a container with new pid, mount, uts and ipc namespaces, until it prints
     * "ready". The init is killed after the test (Cleanup), and with unshare (--kill-child).
     */
    static Container start(Cleanup cleanup, String script) {
        java.time.Instant t0 = java.time.Instant.now();
        cryo.testing.Proc p = cleanup.start("container", new ProcessBuilder("unshare", "--fork", "--kill-child", "--pid", "--mount-proc", "--mount", "--uts", "--ipc",
                "sh", "-ec", script + "\necho ready\nexec sleep 100000"));
        p.out().await("ready", l -> l.equals("ready"), Timeouts.LINE);
        String children;
        try {
            children = Procfs.read(Path.of("/proc/" + p.pid() + "/task/" + p.pid() + "/children")).trim();
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
        assertTrue(!children.isEmpty(), "unshare has a child");
        int init = Integer.parseInt(children.split(" ")[0]);
        cleanup.foreign(init, t0, "container init");
        return new Container(p, init);
    }

    /** Kills the container: its init (the namespaces and their mounts go with it) and unshare. */
    static void kill(Container c) throws InterruptedException {
        ProcessHandle.of(c.pid()).ifPresent(ProcessHandle::destroyForcibly);
        c.unshare().process().destroyForcibly().waitFor();
        Procfs.awaitGone(c.pid(), Timeouts.EXIT);
    }

    /** The mount records of a dump, written to an image and read back, checked as restart checks them. */
    static MountsImage roundTrip(MountsDump dump, Path dir) throws Exception {
        Path file = dir.resolve("mounts.img");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            ImageWriter w = new ImageWriter(ch);
            dump.write(w);
            w.finish();
        }
        return read(file);
    }

    static MountsImage read(Path file) throws Exception {
        return MountsImage.of(records(file));
    }

    static List<cryo.image.ImageRecord> records(Path file) throws Exception {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            var seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), Arena.ofAuto());
            return ImageReader.read(seg);
        }
    }

    /**
     * A sleep in a mount namespace of its own (a copy of the JVM's, propagation unchanged), seized, with a scratch
     * area: what restart's container init is when Mounts.restore runs in it. Killed and reaped by close().
     */
    static final class NsProcess implements AutoCloseable {
        final int pid;
        final Tracee tracee;

        NsProcess() throws Exception {
            pid = Spawn.spawn("/usr/bin/unshare", new String[]{"unshare", "--mount", "--propagation", "unchanged", "/bin/sleep", "100000"});
            Tracee t = null;
            try {
                long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
                while (!Files.readSymbolicLink(Path.of("/proc/" + pid + "/exe")).toString().equals("/usr/bin/sleep")
                        && !Files.readSymbolicLink(Path.of("/proc/" + pid + "/exe")).toString().equals("/bin/sleep")) {
                    assertTrue(System.nanoTime() < deadline, "unshare did not exec sleep");
                    Procfs.sleep(Duration.ofMillis(5));
                }
                t = Tracee.seize(pid, Ptrace.O_TRACESYSGOOD | Ptrace.O_EXITKILL);
                Ptrace.setSigmask(pid, ~0L);
                List<Mapping> maps = Mapping.read(pid);
                t.useSyscallAt(AddressSpace.findSyscallInsn(pid, maps));
                long scratch = t.syscall("mmap(scratch)", Nr.MMAP, 0, Scratch.SIZE, 3, 0x22, -1, 0);
                t.useScratch(scratch, Scratch.SIZE);
            } catch (Exception | AssertionError e) {
                kill();
                throw e;
            }
            tracee = t;
        }

        String mountinfo() throws Exception {
            return Files.readString(Path.of("/proc/" + pid + "/mountinfo"));
        }

        Path root() {
            return Path.of("/proc/" + pid + "/root");
        }

        private void kill() {
            try {
                Proc.kill(pid, Proc.SIGKILL);
                for (int i = 0; i < 100 && !Wait.waitFor(pid, Tracee.WAIT_MS).gone(); i++) {
                    // reap
                }
            } catch (Exception e) {
                System.out.println("[cleanup] pid " + pid + ": " + e);
            }
        }

        @Override
        public void close() {
            kill();
        }
    }
}
