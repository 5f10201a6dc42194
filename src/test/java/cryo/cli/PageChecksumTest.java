package cryo.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Fixtures.Build;
import cryo.testing.Leftovers;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Image v2 page checksums on a real process: a PAGES record whose data or whose crc32c field was damaged
 * makes restart and show fail with one line and leave nothing behind; the undamaged image still restarts.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class PageChecksumTest {
    private static final int PAGES = 8;
    private static final int TAIL = 99;

    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    private record Saved(Path image, long pid, long lastTick) {}

    /** An image of the sleeping fixture whose pid is free again. */
    private Saved checkpointedFixture(String name) {
        Path exe = Fixtures.fixture(tmp, Build.PIE);
        Proc orig = Fixtures.startFixture(cleanup, exe, "sleep", tmp.resolve("work-" + name));
        long pid = orig.pid();
        orig.nextTick();
        Path image = tmp.resolve(name + ".img");
        Cryo.checkpoint(cleanup, pid, image);
        orig.awaitExit(Timeouts.EXIT);
        long last = orig.lastTickAfterEof();
        Procfs.awaitGone(pid, Timeouts.EXIT);
        return new Saved(image, pid, last);
    }

    /** Where the first PAGES record starts: walks {u32 type; u32 len; body; pad to 8} from after the magic. */
    private static int firstPages(byte[] image) {
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        int pos = 8;
        while (pos + 8 <= image.length) {
            int type = b.getInt(pos);
            int len = b.getInt(pos + 4);
            if (type == PAGES) return pos;
            if (type == TAIL) break;
            pos += 8 + ((len + 7) & ~7);
        }
        throw new AssertionError("no PAGES record in the image");
    }

    enum Damage {
        /** a byte in the middle of the page data: only the record's own CRC32C covers it, not TAIL */
        DATA,
        /** a byte of the crc32c field in the record's header: covered by TAIL */
        CRC_FIELD
    }

    @ParameterizedTest
    @EnumSource(Damage.class)
    void damagedPagesRecordIsRejected(Damage damage) throws IOException {
        Saved s = checkpointedFixture(damage.name().toLowerCase());
        byte[] good = Files.readAllBytes(s.image());
        int rec = firstPages(good);
        int len = ByteBuffer.wrap(good).order(ByteOrder.LITTLE_ENDIAN).getInt(rec + 4);
        // record header 8 bytes, then {u32 pid; u32 crc32c; u64 addr}, then the data
        int at = damage == Damage.DATA ? rec + 8 + 16 + (len - 16) / 2 : rec + 8 + 4;
        byte[] bad = good.clone();
        bad[at] ^= 0x10;
        Path badImage = tmp.resolve("bad.img");
        Files.write(badImage, bad);

        Leftovers before = Leftovers.snapshot();
        String line = Cryo.restartExpectingFailure(cleanup, badImage, s.pid()).assertOneLineError();
        assertFalse(Procfs.exists(s.pid()), "restart left pid " + s.pid());
        before.assertNone(cleanup, "restart of an image with a damaged PAGES " + damage);
        String shown = Cryo.run(cleanup, "show", badImage.toString()).assertOneLineError();
        for (String l : new String[] {line, shown}) {
            assertTrue(l.contains("CRC32C"), "the error names the CRC32C: " + l);
            if (damage == Damage.DATA) {
                assertTrue(l.contains("PAGES of task " + s.pid()), "the error names the record: " + l);
            } else {
                assertTrue(l.contains("corrupted") && l.contains("TAIL"), "TAIL catches the damage: " + l);
            }
        }

        // control: the undamaged image does restart, so the failures above came from the damage
        Proc rest = Cryo.startRestart(cleanup, s.image(), s.pid());
        assertEquals(s.lastTick() + 1, rest.nextTick(), "control: the undamaged image restarts");
        assertTrue(Os.kill(s.pid(), Os.SIGKILL));
        assertEquals(128 + Os.SIGKILL, rest.awaitExit(Timeouts.EXIT));
    }
}
