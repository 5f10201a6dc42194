package cryo.mounts;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.Refusal;
import cryo.testing.Cleanup;
import cryo.testing.Fixtures;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The checkpoint side on containers made with unshare(1): a tmpfs with files of every kind, a bind mount of a
 * host directory, the container's own /proc; an overlay and a loop-mounted ext4 refused one line each. Every mount
 * lives in the container's namespace only and goes with it (unshare makes its mounts private).
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class MountsCheckpointTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();
    @TempDir
    Path dir;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    /** The shell lines that make a tmpfs at DIR/x with a sparse file, a symlink, a subdirectory, a FIFO and a hard link. */
    static String tmpfsScript(Path dir) {
        return String.join("\n",
                "mkdir -p " + dir + "/x " + dir + "/b " + dir + "/src",
                "echo host-file > " + dir + "/src/h",
                "mount -t tmpfs -o size=8m,mode=751 t " + dir + "/x",
                "cd " + dir + "/x",
                "printf hello > plain",
                "truncate -s 3M sparse",
                "printf middle | dd of=sparse bs=1 seek=1048576 conv=notrunc 2>/dev/null",
                "mkdir -m 750 sub",
                "printf deep > sub/deep",
                "chown 1234:5678 sub/deep",
                "chmod 4755 sub/deep",
                "ln -s ../plain sub/link",
                "mkfifo -m 640 fifo",
                "ln plain hard",
                "touch -h -d '2001-02-03 04:05:06.123456789' sub/link",
                "touch -d '2002-03-04 05:06:07.5' plain",
                "cd /",
                "mount --bind " + dir + "/src " + dir + "/b",
                "mount -o remount,bind,ro,nosuid " + dir + "/b");
    }

    @Test
    void tmpfsBindAndProcAreRecordedWithTheTmpfsFiles() throws Exception {
        MountsFixture.Container c = MountsFixture.start(cleanup, tmpfsScript(dir));
        Refusal.Collector refused = new Refusal.Collector();
        MountsDump dump = Mounts.checkpoint(c.pid(), refused);
        assertTrue(refused.isEmpty(), () -> "no refusal: " + refusals(refused));
        Map<String, MountRecord> byMp = dump.mounts().stream().collect(Collectors.toMap(MountRecord::mountPoint, Function.identity()));
        assertEquals(List.of("/proc", dir + "/x", dir + "/b"), dump.mounts().stream().map(MountRecord::mountPoint).toList(), "mounts made inside, in order");
        assertEquals(MountRecord.Kind.FS, byMp.get("/proc").kind());
        assertEquals("proc", byMp.get("/proc").fsType());
        MountRecord x = byMp.get(dir + "/x");
        assertEquals(MountRecord.Kind.FS, x.kind());
        assertEquals("tmpfs", x.fsType());
        assertTrue(x.fsOptions().contains("size=8192k") && x.fsOptions().contains("mode=751"), x.fsOptions());
        MountRecord b = byMp.get(dir + "/b");
        assertEquals(MountRecord.Kind.BIND, b.kind());
        assertEquals(dir + "/src", b.source());
        assertEquals(cryo.sys.Mount.MS_RDONLY | cryo.sys.Mount.MS_NOSUID, b.flags() & (cryo.sys.Mount.MS_RDONLY | cryo.sys.Mount.MS_NOSUID | cryo.sys.Mount.MS_NODEV));
        assertEquals(List.of(), dump.gone(), "nothing of the host unmounted");

        Map<String, TmpfsFileRecord> files = dump.files(x.id()).stream().collect(Collectors.toMap(TmpfsFileRecord::path, Function.identity()));
        assertEquals(java.util.Set.of("", "plain", "sparse", "sub", "sub/deep", "sub/link", "fifo", "hard"), files.keySet());
        assertEquals(0751, files.get("").mode());
        assertEquals(TmpfsFileRecord.Kind.FILE, files.get("sparse").kind());
        assertEquals(3L << 20, files.get("sparse").size());
        assertTrue(files.get("sparse").dataBytes() < 64 * 1024, "the sparse file's holes are not saved: " + files.get("sparse").dataBytes());
        assertEquals(04755, files.get("sub/deep").mode());
        assertEquals(1234, files.get("sub/deep").uid());
        assertEquals(5678, files.get("sub/deep").gid());
        assertEquals(TmpfsFileRecord.Kind.SYMLINK, files.get("sub/link").kind());
        assertEquals("../plain", files.get("sub/link").target());
        assertEquals(981173106123456789L, files.get("sub/link").mtimeNanos());
        assertEquals(TmpfsFileRecord.Kind.FIFO, files.get("fifo").kind());
        assertEquals(0640, files.get("fifo").mode());
        TmpfsFileRecord hard = files.get("hard"), plain = files.get("plain");
        assertTrue(hard.kind() == TmpfsFileRecord.Kind.HARDLINK && hard.target().equals("plain")
                || plain.kind() == TmpfsFileRecord.Kind.HARDLINK && plain.target().equals("hard"), "one of plain and hard links to the other");
        assertEquals(x.tmpfsFiles(), files.size());

        MountsImage read = MountsFixture.roundTrip(dump, dir);
        assertEquals(dump.mounts(), read.mounts(), "the records read back equal the ones written");
        assertTrue(read.restoredByCryo(dir + "/x/sub/deep"));
        assertTrue(!read.restoredByCryo(dir + "/b/h"));
        assertEquals(dir + "/src/h", read.hostPath(dir + "/b/h"));
        assertEquals("/etc/passwd", read.hostPath("/etc/passwd"));
    }

    @Test
    void overlayAndBlockDeviceMountsAreRefusedOneLineEach() throws Exception {
        Fixtures.assumeTool("mkfs.ext4");
        String d = dir.toString();
        MountsFixture.Container c = MountsFixture.start(cleanup, String.join("\n",
                "mkdir -p " + d + "/lower " + d + "/upper " + d + "/work " + d + "/o " + d + "/l",
                "mount -t overlay -o lowerdir=" + d + "/lower,upperdir=" + d + "/upper,workdir=" + d + "/work ov " + d + "/o",
                "truncate -s 8M " + d + "/ext4.img",
                "mkfs.ext4 -q " + d + "/ext4.img",
                "mount -o loop " + d + "/ext4.img " + d + "/l"));
        Refusal.Collector refused = new Refusal.Collector();
        Mounts.checkpoint(c.pid(), refused);
        List<String> lines = refusals(refused);
        assertEquals(2, lines.size(), () -> String.join("\n", lines));
        assertTrue(lines.get(0).startsWith("mount " + d + "/o (overlay from ov) of container " + c.pid() + ": an overlay"), lines.get(0));
        assertTrue(lines.get(1).matches("mount " + d + "/l \\(ext4 from /dev/loop\\d+\\) of container \\d+: a mount of block device /dev/loop\\d+.*"), lines.get(1));
    }

    static List<String> refusals(Refusal.Collector c) {
        try {
            c.throwIfAny();
            return List.of();
        } catch (Refusal r) {
            return r.reasons();
        }
    }
}
