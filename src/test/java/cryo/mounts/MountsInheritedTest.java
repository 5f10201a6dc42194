package cryo.mounts;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.DataCheck;
import cryo.image.Refusal;
import cryo.sys.Mount;
import cryo.testing.Cleanup;
import cryo.testing.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mounts a container had from its creator: one it unmounted (MOUNT_GONE), one it made read-only (FLAGS); and mounts
 * nested in its own: a tmpfs inside its tmpfs, a bind of a directory of its tmpfs (BIND_INSIDE). The host's two
 * tmpfs mounts are made by the test and unmounted after it, pass or fail.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class MountsInheritedTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();
    @TempDir
    Path dir;
    private final List<String> hostMounts = new java.util.ArrayList<>();

    @BeforeEach
    void hostMounts() throws Exception {
        Fixtures.assumeRoot();
        for (String name : List.of("gone", "ro")) {
            Path p = Files.createDirectory(dir.resolve(name));
            Mount.mount("cryo-test", p.toString(), "tmpfs", Mount.MS_NOSUID, "size=1m");
            hostMounts.add(p.toString());
        }
    }

    @AfterEach
    void unmount() {
        for (String p : hostMounts.reversed()) {
            try {
                Mount.umount2(p, Mount.MNT_DETACH);
            } catch (Exception e) {
                System.out.println("[cleanup] " + e.getMessage());
            }
        }
    }

    @Test
    void unmountedRemountedAndNestedMountsComeBack() throws Exception {
        String d = dir.toString();
        MountsFixture.Container c = MountsFixture.start(cleanup, String.join("\n",
                "umount " + d + "/gone",
                "mount -o remount,bind,ro,nosuid " + d + "/ro",
                "mkdir " + d + "/x " + d + "/alias",
                "mount -t tmpfs -o size=2m t " + d + "/x",
                "mkdir -p " + d + "/x/inner " + d + "/x/shared/deeper",
                "echo outer > " + d + "/x/shared/deeper/f",
                "mount -t tmpfs -o size=1m,mode=700 inner " + d + "/x/inner",
                "echo inner > " + d + "/x/inner/f",
                "mount --bind " + d + "/x/shared " + d + "/alias",
                "echo host-data > " + d + "/hostfile",
                "echo hidden > " + d + "/x/conf",
                "mount --bind " + d + "/hostfile " + d + "/x/conf",
                "mkdir " + d + "/mq " + d + "/pts " + d + "/sys",
                "mount -t mqueue -o nodev mq " + d + "/mq",
                "mount -t devpts -o newinstance,ptmxmode=0666,mode=620 dp " + d + "/pts",
                "mount -t sysfs -o ro sy " + d + "/sys",
                "mkdir " + d + "/rot",
                "mount -t tmpfs -o size=1m rot " + d + "/rot",
                "echo frozen > " + d + "/rot/f",
                "mount -o remount,ro " + d + "/rot"));
        Refusal.Collector refused = new Refusal.Collector();
        MountsDump dump = Mounts.checkpoint(c.pid(), refused);
        assertTrue(refused.isEmpty(), () -> String.join("\n", MountsCheckpointTest.refusals(refused)));
        assertEquals(List.of(d + "/gone"), dump.gone().stream().map(MountGoneRecord::mountPoint).toList());
        assertEquals(List.of(d + "/ro:FLAGS", "/proc:FS", d + "/x:FS", d + "/x/inner:FS", d + "/alias:BIND_INSIDE", d + "/x/conf:BIND",
                d + "/mq:FS", d + "/pts:FS", d + "/sys:FS", d + "/rot:FS"),
                dump.mounts().stream().map(m -> m.mountPoint() + ":" + m.kind()).toList());
        MountRecord alias = dump.mounts().get(4);
        assertEquals("/shared", alias.source());
        assertEquals(dump.mounts().get(2).id(), alias.sourceMount());
        assertEquals(List.of("", "conf", "inner", "shared", "shared/deeper", "shared/deeper/f"),
                dump.files(dump.mounts().get(2).id()).stream().map(TmpfsFileRecord::path).sorted().toList(), "the inner tmpfs's files are its own");
        MountsImage img = MountsFixture.roundTrip(dump, dir);
        MountsFixture.kill(c);

        try (MountsFixture.NsProcess p = new MountsFixture.NsProcess(); DataCheck check = DataCheck.start(List.of())) {
            Mounts.restore(p.tracee, p.pid, img, check);
            List<MountInfo> mi = MountInfo.read(String.valueOf(p.pid));
            assertFalse(mi.stream().anyMatch(m -> m.mountPoint().equals(d + "/gone")), "the unmounted mount is gone");
            MountInfo ro = mi.stream().filter(m -> m.mountPoint().equals(d + "/ro")).findFirst().orElseThrow();
            assertTrue(ro.mountOptions().startsWith("ro,nosuid"), ro.mountOptions());
            Path root = p.root().resolve(d.substring(1));
            assertEquals("inner\n", Files.readString(root.resolve("x/inner/f")));
            assertEquals("outer\n", Files.readString(root.resolve("alias/deeper/f")));
            assertEquals("outer\n", Files.readString(root.resolve("x/shared/deeper/f")));
            assertEquals("host-data\n", Files.readString(root.resolve("x/conf")), "a host file bound over a file of the tmpfs");
            MountInfo mq = mi.stream().filter(m -> m.mountPoint().equals(d + "/mq")).findFirst().orElseThrow();
            assertEquals("mqueue", mq.fsType());
            assertTrue(mq.mountOptions().contains("nodev"), mq.mountOptions());
            MountInfo pts = mi.stream().filter(m -> m.mountPoint().equals(d + "/pts")).findFirst().orElseThrow();
            assertEquals("devpts", pts.fsType());
            assertTrue(pts.superOptions().contains("mode=620") && pts.superOptions().contains("ptmxmode=666"), pts.superOptions());
            MountInfo sys = mi.stream().filter(m -> m.mountPoint().equals(d + "/sys")).findFirst().orElseThrow();
            assertTrue(sys.fsType().equals("sysfs") && sys.mountOptions().startsWith("ro,"), sys.mountOptions());
            MountInfo rot = mi.stream().filter(m -> m.mountPoint().equals(d + "/rot")).findFirst().orElseThrow();
            assertTrue(rot.mountOptions().startsWith("ro,") && rot.superOptions().startsWith("ro,"), rot.mountOptions() + " " + rot.superOptions());
            assertEquals("frozen\n", Files.readString(root.resolve("rot/f")), "a read-only tmpfs filled before it was made read-only");
        }
        assertTrue(Files.isDirectory(dir.resolve("gone")) && MountInfo.read("self").stream().anyMatch(m -> m.mountPoint().equals(d + "/gone")),
                "the host keeps its mount");
    }
}
