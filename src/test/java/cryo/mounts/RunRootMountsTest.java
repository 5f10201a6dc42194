package cryo.mounts;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.DataCheck;
import cryo.image.Refusal;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A container made by {@code cryo run --root DIR} (DIR bound on itself and pivot_root'ed into, /proc mounted
 * nosuid,nodev,noexec) that mounted a tmpfs of its own: its mounts checkpointed and made again in a fresh mount
 * namespace, which then has DIR as its /, the same /proc and the tmpfs with its file.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class RunRootMountsTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();
    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("ldd");
    }

    /** A root file system of sh, mount and sleep with the libraries ldd names, and empty /proc and /tmp. */
    static Path smallRoot(Path tmp) throws Exception {
        Fixtures.assumeTool("ldd");
        Path root = tmp.resolve("root");
        Files.createDirectories(root.resolve("proc"));
        Files.createDirectories(root.resolve("tmp"));
        Files.createDirectories(root.resolve("bin"));
        for (String tool : List.of("sh", "mount", "sleep")) {
            Path exe = Fixtures.onPath(tool).orElseThrow().toRealPath();
            Files.copy(exe, root.resolve("bin/" + tool), java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
            Process p = new ProcessBuilder("ldd", exe.toString()).redirectErrorStream(true).start();
            String ldd = new String(p.getInputStream().readAllBytes());
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            Matcher m = Pattern.compile("(/\\S+)").matcher(ldd);
            while (m.find()) {
                Path lib = Path.of(m.group(1));
                Path to = root.resolve(lib.toString().substring(1));
                Files.createDirectories(to.getParent());
                if (!Files.exists(to)) Files.copy(lib, to);
            }
        }
        return root;
    }

    @Test
    void aCryoRunRootContainerIsMadeAgain() throws Exception {
        Path root = smallRoot(tmp);
        long init = Cryo.detached(cleanup, "run", "--root", root.toString(), "-d", "--", "sh", "-c",
                "mount -t tmpfs -o size=1m,mode=1777 tt /tmp && echo inside > /tmp/f && echo ready > /ready && exec sleep 100000");
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (!Files.exists(root.resolve("ready"))) {
            assertTrue(System.nanoTime() < deadline, "the container did not get ready");
            Procfs.sleep(Duration.ofMillis(10));
        }

        Refusal.Collector refused = new Refusal.Collector();
        MountsDump dump = Mounts.checkpoint((int) init, refused);
        assertTrue(refused.isEmpty(), () -> String.join("\n", MountsCheckpointTest.refusals(refused)));
        assertEquals(List.of("/:ROOT:" + root, "/proc:FS:proc", "/tmp:FS:tt"),
                dump.mounts().stream().map(m -> m.mountPoint() + ":" + m.kind() + ":" + m.source()).toList());
        long procFlags = cryo.sys.Mount.MS_NOSUID | cryo.sys.Mount.MS_NODEV | cryo.sys.Mount.MS_NOEXEC;
        assertEquals(procFlags, dump.mounts().get(1).flags() & procFlags, "/proc is nosuid,nodev,noexec");
        MountsImage img = MountsFixture.roundTrip(dump, tmp);
        ProcessHandle.of(init).ifPresent(ProcessHandle::destroyForcibly);
        Procfs.awaitGone(init, Timeouts.EXIT);

        Mounts.preflight(img);
        try (MountsFixture.NsProcess p = new MountsFixture.NsProcess(); DataCheck check = DataCheck.start(List.of())) {
            Mounts.restore(p.tracee, p.pid, img, check);
            List<MountInfo> mi = MountInfo.read(String.valueOf(p.pid));
            assertEquals(List.of("/", "/proc", "/tmp"), mi.stream().map(MountInfo::mountPoint).toList());
            assertTrue(mi.get(1).mountOptions().contains("nosuid,nodev,noexec"), mi.get(1).mountOptions());
            assertEquals("inside\n", Files.readString(p.root().resolve("tmp/f")));
            assertTrue(Files.exists(p.root().resolve("bin/sh")), "the container's / is the run's root");
            assertEquals(01777, (int) Files.getAttribute(p.root().resolve("tmp"), "unix:mode") & 07777);
        }
        assertFalse(Files.exists(root.resolve("tmp/f")), "the tmpfs file is not on the host");
    }
}
