package cryo.mounts;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.DataCheck;
import cryo.image.ImageException;
import cryo.image.Refusal;
import cryo.testing.Cleanup;
import cryo.testing.Fixtures;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The restore side: the mounts of an unshare(1) container, checkpointed and read back from an image, made
 * again in a process in a fresh mount namespace (what restart's container init is): the same mounts in its
 * mountinfo, the tmpfs files with their data, holes, owners, modes and times; none of it on the host.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class MountsRestoreTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();
    @TempDir
    Path dir;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    private MountsImage checkpointed() throws Exception {
        MountsFixture.Container c = MountsFixture.start(cleanup, MountsCheckpointTest.tmpfsScript(dir));
        Refusal.Collector refused = new Refusal.Collector();
        MountsDump dump = Mounts.checkpoint(c.pid(), refused);
        assertTrue(refused.isEmpty(), () -> String.join("\n", MountsCheckpointTest.refusals(refused)));
        MountsImage img = MountsFixture.roundTrip(dump, dir);
        MountsFixture.kill(c);
        return img;
    }

    @Test
    void mountsAndTmpfsFilesComeBackInTheNewNamespaceOnly() throws Exception {
        MountsImage img = checkpointed();
        String hostBefore = Files.readString(Path.of("/proc/self/mountinfo"));
        Mounts.preflight(img);
        try (MountsFixture.NsProcess p = new MountsFixture.NsProcess(); DataCheck check = DataCheck.start(List.of())) {
            Mounts.restore(p.tracee, p.pid, img, check);
            List<MountInfo> mi = MountInfo.read(String.valueOf(p.pid));
            MountInfo x = mi.stream().filter(m -> m.mountPoint().equals(dir + "/x")).findFirst().orElseThrow();
            assertEquals("tmpfs", x.fsType());
            assertTrue(x.superOptions().contains("size=8192k") && x.superOptions().contains("mode=751"), x.superOptions());
            MountInfo b = mi.stream().filter(m -> m.mountPoint().equals(dir + "/b")).findFirst().orElseThrow();
            assertTrue(b.mountOptions().startsWith("ro,nosuid"), b.mountOptions());
            assertEquals(dir + "/src", hostPathOfRoot(b));
            assertTrue(mi.stream().allMatch(m -> m.optional().isEmpty()), "every mount is private");
            assertEquals(2, mi.stream().filter(m -> m.mountPoint().equals("/proc") && m.fsType().equals("proc")).count(), "a new proc over the inherited /proc");

            Path root = p.root().resolve(dir.toString().substring(1));
            Path x0 = root.resolve("x");
            assertEquals("hello", Files.readString(x0.resolve("plain")));
            assertEquals("deep", Files.readString(x0.resolve("sub/deep")));
            assertEquals("host-file\n", Files.readString(root.resolve("b/h")));
            byte[] sparse = Files.readAllBytes(x0.resolve("sparse"));
            assertEquals(3 << 20, sparse.length);
            assertEquals("middle", new String(sparse, 1 << 20, 6));
            Process stat = new ProcessBuilder("stat", "-c", "%b", x0.resolve("sparse").toString()).redirectErrorStream(true).start();
            assertTrue(stat.waitFor(30, TimeUnit.SECONDS));
            long blocks = Long.parseLong(new String(stat.getInputStream().readAllBytes()).trim());
            assertTrue(blocks < 128, "the holes stay holes: " + blocks + " blocks of 512 bytes");
            Map<String, Object> deep = Files.readAttributes(x0.resolve("sub/deep"), "unix:*", LinkOption.NOFOLLOW_LINKS);
            assertEquals(04755, (int) deep.get("mode") & 07777);
            assertEquals(1234, deep.get("uid"));
            assertEquals(5678, deep.get("gid"));
            assertEquals(0750, (int) Files.readAttributes(x0.resolve("sub"), "unix:mode", LinkOption.NOFOLLOW_LINKS).get("mode") & 07777);
            assertEquals(0751, (int) Files.readAttributes(x0, "unix:mode", LinkOption.NOFOLLOW_LINKS).get("mode") & 07777);
            assertEquals("../plain", Files.readSymbolicLink(x0.resolve("sub/link")).toString());
            assertEquals(981173106123456789L, ((FileTime) Files.getAttribute(x0.resolve("sub/link"), "lastModifiedTime", LinkOption.NOFOLLOW_LINKS)).to(TimeUnit.NANOSECONDS));
            assertEquals(1015218367500000000L, ((FileTime) Files.getAttribute(x0.resolve("plain"), "lastModifiedTime")).to(TimeUnit.NANOSECONDS));
            assertTrue(Files.isSameFile(x0.resolve("plain"), x0.resolve("hard")), "hard link kept");
            assertEquals(0640, (int) Files.readAttributes(x0.resolve("fifo"), "unix:mode", LinkOption.NOFOLLOW_LINKS).get("mode") & 07777);
            assertTrue(Files.readAttributes(x0.resolve("fifo"), java.nio.file.attribute.BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).isOther());
        }
        assertEquals(hostBefore, Files.readString(Path.of("/proc/self/mountinfo")), "the host's mounts are untouched");
        assertFalse(Files.exists(dir.resolve("x/plain")), "the tmpfs files are not on the host");
    }

    @Test
    void aBindSourceGoneIsOneLineBeforeAnythingIsMade() throws Exception {
        MountsImage img = checkpointed();
        Files.delete(dir.resolve("src/h"));
        Files.delete(dir.resolve("src"));
        ImageException e = assertThrows(ImageException.class, () -> Mounts.preflight(img));
        assertEquals("record MOUNT " + dir + "/b (bind of " + dir + "/src): the bind source " + dir + "/src is gone", e.getMessage());
    }

    @Test
    void tmpfsContentsCutShortAreOneLine() throws Exception {
        MountsFixture.Container c = MountsFixture.start(cleanup, MountsCheckpointTest.tmpfsScript(dir));
        MountsDump dump = Mounts.checkpoint(c.pid(), new Refusal.Collector());
        MountsFixture.roundTrip(dump, dir);
        List<cryo.image.ImageRecord> records = new java.util.ArrayList<>(MountsFixture.records(dir.resolve("mounts.img")));
        TmpfsDataRecord last = (TmpfsDataRecord) records.stream().filter(r -> r instanceof TmpfsDataRecord).reduce((a, b) -> b).orElseThrow();
        records.remove(last);
        TmpfsFileRecord f = (TmpfsFileRecord) records.stream().filter(r -> r instanceof TmpfsFileRecord t && t.index() == last.file()).findFirst().orElseThrow();
        ImageException e = assertThrows(ImageException.class, () -> MountsImage.of(records));
        assertEquals("record " + f.describe() + ": its TMPFS_DATA records hold " + (f.dataBytes() - last.data().byteSize())
                + " bytes, field 'data_bytes' says " + f.dataBytes(), e.getMessage());
    }

    /** A container whose / is a directory of the host (pivot_root into it), with /usr bound read-only from the host. */
    static String pivotScript(Path dir) {
        String r = dir + "/rootfs";
        return String.join("\n",
                "mkdir -p " + r + "/usr " + r + "/proc " + r + "/tmp",
                "for l in bin lib lib64 sbin; do ln -s usr/$l " + r + "/$l; done",
                "mount --bind " + r + " " + r,
                "mount --bind /usr " + r + "/usr",
                "mount -o remount,bind,ro " + r + "/usr",
                "cd " + r,
                "mkdir old",
                "pivot_root . old",
                "mount -t proc proc /proc",
                "umount -l /old",
                "rmdir /old",
                "mount -t tmpfs -o size=1m,mode=1777 tt /tmp",
                "echo in-root > /tmp/f");
    }

    @Test
    void aContainerRootIsPivotedIntoAgain() throws Exception {
        MountsFixture.Container c = MountsFixture.start(cleanup, pivotScript(dir));
        Refusal.Collector refused = new Refusal.Collector();
        MountsDump dump = Mounts.checkpoint(c.pid(), refused);
        assertTrue(refused.isEmpty(), () -> String.join("\n", MountsCheckpointTest.refusals(refused)));
        assertEquals(List.of("/:ROOT:" + dir + "/rootfs", "/usr:BIND:/usr", "/proc:FS:proc", "/tmp:FS:tt"),
                dump.mounts().stream().map(m -> m.mountPoint() + ":" + m.kind() + ":" + m.source()).toList());
        MountsImage img = MountsFixture.roundTrip(dump, dir);
        assertEquals(dir + "/rootfs/etc/hostname", img.hostPath("/etc/hostname"));
        assertEquals("/usr/bin/sh", img.hostPath("/usr/bin/sh"));
        assertTrue(img.restoredByCryo("/tmp/f"));
        MountsFixture.kill(c);
        Mounts.preflight(img);
        try (MountsFixture.NsProcess p = new MountsFixture.NsProcess(); DataCheck check = DataCheck.start(List.of())) {
            Mounts.restore(p.tracee, p.pid, img, check);
            List<String> mps = MountInfo.read(String.valueOf(p.pid)).stream().map(m -> m.mountPoint() + ":" + m.fsType()).toList();
            assertEquals(List.of("/:ext4", "/usr:ext4", "/proc:proc", "/tmp:tmpfs"), mps.stream().map(s -> s.replaceAll(":ext4$|:xfs$|:btrfs$", ":ext4")).toList());
            assertEquals("in-root\n", Files.readString(p.root().resolve("tmp/f")));
            assertTrue(Files.exists(p.root().resolve("usr/bin/sh")));
            assertTrue(MountInfo.read(String.valueOf(p.pid)).get(1).mountOptions().startsWith("ro"), "/usr is read-only");
        }
        assertFalse(Files.exists(dir.resolve("rootfs/tmp/f")));
    }

    @Test
    void aRootDirectoryGoneIsOneLine() throws Exception {
        MountsFixture.Container c = MountsFixture.start(cleanup, pivotScript(dir));
        MountsImage img = MountsFixture.roundTrip(Mounts.checkpoint(c.pid(), new Refusal.Collector()), dir);
        MountsFixture.kill(c);
        Files.move(dir.resolve("rootfs"), dir.resolve("moved"));
        ImageException e = assertThrows(ImageException.class, () -> Mounts.preflight(img));
        assertEquals("record MOUNT / (root, pivot_root into " + dir + "/rootfs): the root directory " + dir + "/rootfs is gone", e.getMessage());
    }

    private static String hostPathOfRoot(MountInfo m) throws Exception {
        for (MountInfo h : MountInfo.read("self")) {
            if (h.device().equals(m.device()) && h.root().equals("/")) return MountPaths.join(h.mountPoint(), m.root());
        }
        return null;
    }
}
