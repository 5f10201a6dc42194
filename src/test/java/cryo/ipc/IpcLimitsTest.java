package cryo.ipc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A container made with {@code cryo run -d} whose IPC sysctls were changed from the host (nsenter -i, then a
 * message queue made under the lowered msgmnb): its image keeps them (IPC_LIMITS), and the container restarted
 * with {@code restart -d} shows them in its new IPC namespace, with the queue, its size and its messages,
 * while the host's values never change. A malformed IPC_LIMITS record, or a value the kernel refuses, is a
 * one-line error naming it, with nothing left behind.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class IpcLimitsTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    private static final List<String> SYSCTLS = List.of("msgmax", "msgmnb", "msgmni", "shmmax", "shmall", "shmmni", "shm_rmid_forced", "sem");
    /** Each differs from a fresh namespace's default (msgmax 8192, msgmnb 16384, msgmni 32000, shmmni 4096...). */
    private static final Map<String, String> CHANGED = new LinkedHashMap<>();

    static {
        CHANGED.put("msgmax", "500");
        CHANGED.put("msgmnb", "1000");
        CHANGED.put("msgmni", "77");
        CHANGED.put("shmmax", "123456789");
        CHANGED.put("shmall", "654321");
        CHANGED.put("shmmni", "99");
        CHANGED.put("shm_rmid_forced", "1");
        CHANGED.put("sem", "250 32000 32 128");
    }

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("nsenter");
    }

    @Test
    void changedIpcSysctlsComeBackWithTheQueue() {
        Path msg = Fixtures.compile(tmp, "sysv_msg", Fixtures.Build.PIE);
        Map<String, String> host = sysctls(0);
        long init = detached("sh", "-c", "sleep 100000; true");
        StringBuilder set = new StringBuilder();
        CHANGED.forEach((k, v) -> set.append("echo '").append(v).append("' > /proc/sys/kernel/").append(k).append("; "));
        run(List.of("nsenter", "-t", Long.toString(init), "-i", "sh", "-ec", set.toString()));
        assertEquals(CHANGED, sysctls(init), "the container's own values");
        String key = "5150";
        run(List.of("nsenter", "-t", Long.toString(init), "-i", msg.toString(), "send", key, "5", "hello"));
        run(List.of("nsenter", "-t", Long.toString(init), "-i", msg.toString(), "send", key, "7", "world"));
        String queue = run(List.of("nsenter", "-t", Long.toString(init), "-i", msg.toString(), "show", key));
        assertEquals("QUEUE 0 qbytes=1000 qnum=2\nMSG 5 hello\nMSG 7 world\n", queue, "the queue took msgmnb as its size");

        Path image = tmp.resolve("c.img");
        Cryo.checkpoint(cleanup, init, image);
        Procfs.awaitGone(init, Timeouts.EXIT);
        String show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        assertTrue(show.contains("\nIPC_LIMITS msgmax=500 msgmnb=1000 msgmni=77 shmmax=123456789 shmall=654321 shmmni=99 shm_rmid_forced=1 sem=\"250 32000 32 128\"\n"), show);

        long restored = restartDetached(image);
        assertEquals(CHANGED, sysctls(restored), "the restored container's new IPC namespace has the image's values");
        assertEquals(queue, run(List.of("nsenter", "-t", Long.toString(restored), "-i", msg.toString(), "show", key)),
                "the queue at its id, with its size and messages");
        assertEquals(host, sysctls(0), "the host's values never changed");
        kill(restored);

        String l = restartFails(image, tmp.resolve("forced-2.img"), limits(x -> new IpcLimitsRecord(x.msgmax(), x.msgmnb(), x.msgmni(),
                x.shmmax(), x.shmall(), x.shmmni(), 2, x.sem())));
        assertTrue(l.contains("IPC_LIMITS") && l.contains("'shm_rmid_forced'") && l.contains("is 2"), l);
        l = restartFails(image, tmp.resolve("msgmax-neg.img"), limits(x -> new IpcLimitsRecord(-1, x.msgmnb(), x.msgmni(),
                x.shmmax(), x.shmall(), x.shmmni(), x.shmRmidForced(), x.sem())));
        assertTrue(l.contains("IPC_LIMITS") && l.contains("'msgmax'") && l.contains("is -1"), l);
        // within the record's range, above this kernel's IPCMNI (32768): the kernel refuses it
        l = restartFails(image, tmp.resolve("semmni-big.img"), limits(x -> new IpcLimitsRecord(x.msgmax(), x.msgmnb(), x.msgmni(),
                x.shmmax(), x.shmall(), x.shmmni(), x.shmRmidForced(), new int[]{250, 32000, 32, 1 << 20})));
        assertTrue(l.contains("write(/proc/sys/kernel/sem = 250 32000 32 1048576): "), l);
        assertEquals(host, sysctls(0), "the host's values never changed");
    }

    // ------------------------------------------------------------------ helpers

    private static UnaryOperator<List<ImageRecord>> limits(UnaryOperator<IpcLimitsRecord> change) {
        return rs -> {
            List<ImageRecord> out = new ArrayList<>();
            for (ImageRecord r : rs) out.add(r instanceof IpcLimitsRecord x ? change.apply(x) : r);
            return out;
        };
    }

    private String restartFails(Path image, Path bad, UnaryOperator<List<ImageRecord>> change) {
        TreeFixtures.rewrite(image, bad, change);
        subreaper.off();
        Leftovers before = Leftovers.snapshot();
        Cryo.Result r = Cryo.run(cleanup, "restart", "-d", bad.toString());
        String line = r.assertOneLineError();
        before.assertNone(cleanup, "a restart of " + bad.getFileName());
        subreaper.on();
        return line;
    }

    /** The IPC sysctls as the IPC namespace of pid sees them (cryo's and the test's own for 0). */
    private static Map<String, String> sysctls(long pid) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String s : SYSCTLS) {
            String v = pid == 0 ? read("/proc/sys/kernel/" + s)
                    : run(List.of("nsenter", "-t", Long.toString(pid), "-i", "cat", "/proc/sys/kernel/" + s));
            out.put(s, v.trim().replace('\t', ' '));
        }
        return out;
    }

    private static String read(String path) {
        try (var in = new java.io.FileInputStream(path)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /** `cryo run -d ARGS...`: the printed init pid, registered to be killed and reaped by pid. */
    private long detached(String... cmd) {
        List<String> a = new ArrayList<>(List.of("run", "-d", "--"));
        a.addAll(List.of(cmd));
        return printedPid(a);
    }

    /** `cryo restart -d IMAGE`: the new host pid of the container's init, registered likewise. */
    private long restartDetached(Path image) {
        return printedPid(List.of("restart", "-d", image.toString()));
    }

    /** cryo's stdout is a file: the container keeps it open. */
    private long printedPid(List<String> args) {
        Instant t0 = Instant.now();
        try {
            Path out = Files.createTempFile(tmp, "out", ""), err = Files.createTempFile(tmp, "err", "");
            ProcessBuilder pb = new ProcessBuilder(Cryo.command(List.of(), args.toArray(String[]::new))).directory(Cryo.root().toFile())
                    .redirectInput(Path.of("/dev/null").toFile()).redirectOutput(out.toFile()).redirectError(err.toFile());
            Cryo.environment(pb, Map.of());
            Process p = pb.start();
            cleanup.process(p);
            assertTrue(p.waitFor(Timeouts.CRYO.toMillis(), TimeUnit.MILLISECONDS), "cryo " + args + " did not return");
            String printed = Files.readString(out).trim();
            assertEquals(0, p.exitValue(), () -> "cryo " + args + ": " + printed + " " + read(err.toString()));
            long pid = Long.parseLong(printed);
            subreaper.foreign(cleanup, List.of(pid), t0, "container init");
            return pid;
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static void kill(long init) {
        cryo.testing.Os.kill(init, cryo.testing.Os.SIGKILL);
        Subreaper.reap(List.of(init));
        Procfs.awaitGone(init, Timeouts.EXIT);
    }

    /** Runs a short command to its end (with a timeout); returns its stdout, failing on a non-zero exit. */
    private static String run(List<String> cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectInput(Path.of("/dev/null").toFile()).redirectErrorStream(true).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(Timeouts.EXIT.toSeconds(), TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(cmd + " did not finish");
            }
            String s = new String(out, StandardCharsets.UTF_8);
            assertEquals(0, p.exitValue(), () -> cmd + " failed: " + s);
            return s;
        } catch (IOException e) {
            throw new AssertionError(cmd + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
