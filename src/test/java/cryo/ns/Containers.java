package cryo.ns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Containers for the tests, made with {@code unshare --fork --pid --mount-proc --uts --ipc [--net]}: the
 * container's init is unshare's child. It runs a shell pipeline — {@code seq | awk | while read} — whose loop
 * appends each number to DIR/p.HOSTNAME (the host name read back every round with the shell's own read, no
 * fork), and holds a SysV message queue made in its IPC namespace.
 */
final class Containers {
    private Containers() {}

    /** A running container: its init's host pid, the unshare process (null for a restored one), its queue id. */
    record Running(long init, Proc unshare, int queue) {}

    static String script(Path dir, String hostname) {
        // a tmpfs of its own holding a file (the mount point exists on the host too, empty there)
        return "hostname " + hostname + " && mkdir -p " + dir + "/m && mount -t tmpfs -o size=1m t " + dir + "/m && echo " + hostname
                + " > " + dir + "/m/f && q=$(ipcmk -Q | tr -dc 0-9) && echo READY $q && "
                + "seq 1 100000000 | awk '{ print $1 * 2 }' | while read x; do read h < /proc/sys/kernel/hostname; "
                + "echo $x >> " + dir + "/p.$h; sleep 0.01; done";
    }

    static Running start(Cleanup cleanup, Subreaper subreaper, Path dir, String hostname, boolean net) {
        List<String> cmd = new ArrayList<>(List.of("unshare", "--fork", "--pid", "--mount-proc", "--uts", "--ipc"));
        if (net) cmd.add("--net");
        cmd.addAll(List.of("sh", "-c", script(dir, hostname)));
        Instant t0 = Instant.now();
        Proc u = cleanup.start("unshare", new ProcessBuilder(cmd).redirectInput(Path.of("/dev/null").toFile()));
        String ready = u.await("READY", l -> l.startsWith("READY"));
        int queue = Integer.parseInt(ready.substring(6).trim());
        long init = children(u.pid()).getFirst();
        cleanup.foreign(init, t0, "container init");
        subreaper.track(List.of(init));
        awaitFile(dir.resolve("p." + hostname));
        return new Running(init, u, queue);
    }

    /** Children of every thread of pid (host pids). */
    static List<Long> children(long pid) {
        List<Long> out = new ArrayList<>();
        try (var ts = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : (Iterable<Path>) ts::iterator) {
                String c;
                try {
                    c = Files.readString(t.resolve("children")).trim();
                } catch (NoSuchFileException e) {
                    continue;
                }
                if (!c.isEmpty()) for (String s : c.split("\\s+")) out.add(Long.parseLong(s));
            }
        } catch (IOException e) {
            // gone
        }
        return out;
    }

    /** The pid of a task inside its own pid namespace: the last field of NSpid (proc(5)). */
    static long nsPid(long hostPid) {
        long p = nsPidIfAlive(hostPid);
        if (p == 0) throw new AssertionError("no task " + hostPid);
        return p;
    }

    /** nsPid, or 0 for a task that is gone (cryo's stub, killed once the tree exists). */
    static long nsPidIfAlive(long hostPid) {
        return Procfs.statusField(hostPid, "NSpid").map(s -> s.trim().split("\\s+")).map(f -> Long.parseLong(f[f.length - 1])).orElse(0L);
    }

    /**
     * In-namespace pid -> comm of the container's init and its children (sh, seq, awk and the loop's sh):
     * the processes that stay. The loop's own children come and go every round (a fork is "sh" until it
     * execs sleep), so they are left out.
     */
    static Map<Long, String> members(long init) {
        Map<Long, String> out = new TreeMap<>();
        List<Long> all = new ArrayList<>(List.of(init));
        all.addAll(children(init));
        for (long p : all) {
            var st = Procfs.stat(p);
            long ns = nsPidIfAlive(p);
            if (st.isPresent() && st.get().state() != 'Z' && ns != 0) out.put(ns, st.get().comm());
        }
        return out;
    }

    static String hostname(long init) {
        return run(List.of("nsenter", "-t", Long.toString(init), "-u", "hostname")).trim();
    }

    /** The message queue ids of the container's IPC namespace, by key (ipcs -q run inside it). */
    static Map<String, Integer> queues(long init) {
        Map<String, Integer> out = new TreeMap<>();
        for (String l : run(List.of("nsenter", "-t", Long.toString(init), "-i", "ipcs", "-q")).split("\n")) {
            String[] f = l.trim().split("\\s+");
            if (f.length > 1 && f[0].startsWith("0x")) out.put(f[0], Integer.parseInt(f[1]));
        }
        return out;
    }

    static void awaitFile(Path p) {
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (!Files.exists(p)) {
            assertTrue(System.nanoTime() < deadline, p + " did not appear");
            Procfs.sleep(Duration.ofMillis(20));
        }
    }

    /** The whole lines of a progress file, as numbers. */
    static List<Long> values(Path p) {
        try {
            String s = Files.readString(p, StandardCharsets.ISO_8859_1);
            int end = s.lastIndexOf('\n');
            List<Long> out = new ArrayList<>();
            if (end < 0) return out;
            for (String l : s.substring(0, end).split("\n")) out.add(Long.parseLong(l));
            return out;
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /** Waits until the file's last whole value is above `above`; returns it. */
    static long awaitBeyond(Path p, long above) {
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (true) {
            List<Long> v = values(p);
            if (!v.isEmpty() && v.getLast() > above) return v.getLast();
            assertTrue(System.nanoTime() < deadline, p + " did not go past " + above + ": " + (v.isEmpty() ? "empty" : v.getLast()));
            Procfs.sleep(Duration.ofMillis(20));
        }
    }

    /** Kills a container by its init's host pid (the kernel kills the rest of its pid namespace) and waits for it. */
    static void kill(long init) {
        cryo.testing.Os.kill(init, cryo.testing.Os.SIGKILL);
        Subreaper.reap(List.of(init));
        Procfs.awaitGone(init, Timeouts.EXIT);
    }

    /** Runs a short command to its end (with a timeout); returns its stdout, failing on a non-zero exit. */
    static String run(List<String> cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectInput(Path.of("/dev/null").toFile())
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(Timeouts.EXIT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(cmd + " did not finish");
            }
            assertEquals(0, p.exitValue(), () -> cmd + " failed");
            return new String(out, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new AssertionError(cmd + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
