package cryo.restart;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.Head;
import cryo.image.ImageReader;
import cryo.image.RecordType;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * An image from another machine: its HEAD patched (and the image sealed again with a valid TAIL) as if
 * taken under another kernel build (vdso), on a CPU with other XSAVE features or size, or with another
 * page size. Restart refuses it in one line naming what differs and creates nothing; another kernel release
 * with the same vdso is only a warning.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class AnotherMachineTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    static Path tmp;

    private static Path image;
    private static long pid;

    @BeforeAll
    static void checkpointOnce() {
        Fixtures.assumeRoot();
        Cleanup once = new Cleanup();
        Path exe = Fixtures.fixture(tmp, Fixtures.Build.PIE);
        Proc target = Fixtures.startFixture(once, exe, "sleep", tmp.resolve("work"));
        target.nextTick();
        pid = target.pid();
        image = tmp.resolve("here.img");
        Cryo.checkpoint(once, pid, image);
        target.awaitExit(Timeouts.EXIT);
    }

    /** HEAD body offsets (Head.encode): page_size 4, xstate_size 8, vdso_size 12, xfeatures 16, then strings. */
    private Path patched(String name, Consumer<ByteBuffer> headBody) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(image)).order(ByteOrder.LITTLE_ENDIAN);
        int pos = Head.MAGIC.length;
        assertEquals(RecordType.HEAD.code, b.getInt(pos), "the image starts with HEAD");
        headBody.accept(b.slice(pos + 8, b.getInt(pos + 4)).order(ByteOrder.LITTLE_ENDIAN));
        while (b.getInt(pos) != RecordType.TAIL.code) pos += 8 + ((b.getInt(pos + 4) + 7) & ~7);
        b.putLong(pos + 8, pos);
        b.putInt(pos + 16, ImageReader.checksum(MemorySegment.ofArray(b.array()), pos));
        Path out = tmp.resolve(name + ".img");
        Files.write(out, b.array());
        return out;
    }

    /** Offset of the vdso_sha256 field in the HEAD body: after arch and kernel_release. */
    private static int shaOffset(ByteBuffer h) {
        int o = 40;
        o += 4 + h.getInt(o);
        o += 4 + h.getInt(o);
        assertEquals(32, h.getInt(o), "HEAD has a vdso_sha256 of 32 bytes");
        return o + 4;
    }

    private String refused(Path img) {
        String line = Cryo.restartExpectingFailure(cleanup, img, pid).assertOneLineError();
        assertTrue(!cryo.testing.Procfs.alive(pid), "nothing restored");
        return line;
    }

    @Test
    void anotherVdsoIsRefused() throws IOException {
        String line = refused(patched("vdso", h -> {
            int o = shaOffset(h);
            h.put(o, (byte) (h.get(o) ^ 1));
        }));
        assertTrue(line.contains("image: vdso differs: image taken with a vdso of ") && line.contains("this kernel's is")
                && line.contains("restored processes would call into the wrong code"), line);
    }

    @Test
    void aVdsoOfAnotherSizeIsRefused() throws IOException {
        String line = refused(patched("vdso-size", h -> h.putInt(12, h.getInt(12) + 4096)));
        assertTrue(line.contains("image: vdso differs"), line);
    }

    @Test
    void xsaveFeaturesThisCpuLacksAreRefused() throws IOException {
        String line = refused(patched("xfeatures", h -> h.putLong(16, h.getLong(16) | 1L << 62)));
        assertTrue(line.contains("image: CPU features differ") && line.contains("missing 0x4000000000000000"), line);
    }

    @Test
    void anotherXsaveSizeIsRefused() throws IOException {
        String line = refused(patched("xstate-size", h -> h.putInt(8, h.getInt(8) + 64)));
        assertTrue(line.contains("xstate"), line);
    }

    @Test
    void anotherPageSizeIsRefused() throws IOException {
        String line = refused(patched("page-size", h -> h.putInt(4, 16384)));
        assertTrue(line.contains("field 'page_size' is 16384, this machine has 4096"), line);
    }

    @Test
    void anotherKernelReleaseWithTheSameVdsoIsAWarning() throws IOException {
        Path img = patched("release", h -> {
            int o = 40 + 4 + h.getInt(40);   // kernel_release: its last character changed, same length
            int len = h.getInt(o);
            h.put(o + 4 + len - 1, (byte) (h.get(o + 4 + len - 1) == 'x' ? 'y' : 'x'));
        });
        Proc restored = Cryo.startRestart(cleanup, img, pid);
        restored.nextTick();
        String warning = restored.err().await("the warning", l -> l.contains("warning: image taken on kernel"), Timeouts.LINE);
        assertTrue(warning.contains("warning: image taken on kernel"), warning);
        cryo.testing.Os.kill(pid, 9);
        restored.awaitExit(Timeouts.EXIT);
    }
}
