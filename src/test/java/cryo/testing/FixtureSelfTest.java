package cryo.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Fixtures.Build;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The C fixture on its own, without cryo: it passes its own checks in both modes and both builds, and it
 * does notice damage. If an end-to-end test reports a FAIL from the fixture, this test tells whether the
 * fixture or the restore is at fault.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class FixtureSelfTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @ParameterizedTest
    @EnumSource(Build.class)
    void readModePassesItsOwnChecks(Build build) {
        Path exe = Fixtures.fixture(tmp, build);
        Proc p = Fixtures.startFixture(cleanup, exe, "read", tmp.resolve("work"));
        p.checkOk();
        assertTrue(Os.kill(p.pid(), Os.SIGUSR2));
        assertTrue(Os.kill(p.pid(), Os.SIGUSR1));
        p.checkOk();
        Map<String, String> st = p.status();
        assertEquals(Long.toString(p.pid()), st.get("pid"));
        assertEquals("12", st.get("pending"));
        assertEquals("2", st.get("checks"));
        assertEquals("4", st.get("usr1"), "one SIGUSR1 per check (one before READY) plus the one sent: " + st);
        p.sharedWriteOk();
        p.checkOk();
        p.send("quit");
        p.await("BYE", "BYE"::equals);
        assertEquals(0, p.awaitExit(Timeouts.EXIT));
    }

    @Test
    void sleepModeTicksAndAnswers() {
        Path exe = Fixtures.fixture(tmp, Build.PIE);
        Proc p = Fixtures.startFixture(cleanup, exe, "sleep", tmp.resolve("work"));
        long t = p.nextTick();
        for (int i = 0; i < 3; i++) assertEquals(++t, p.nextTick());
        p.checkOk();
        assertEquals(Long.toString(p.pid()), p.status().get("pid"));
        p.send("exit 5");
        assertEquals(5, p.awaitExit(Timeouts.EXIT));
        assertTrue(p.lastTickAfterEof() >= t);
    }

    @Test
    void damageIsNoticed() throws IOException {
        Path exe = Fixtures.fixture(tmp, Build.PIE);
        Path work = tmp.resolve("work");
        Proc p = Fixtures.startFixture(cleanup, exe, "read", work);
        p.checkOk();
        // the read-only MAP_SHARED mapping shows what is written to its file
        try (RandomAccessFile f = new RandomAccessFile(work.resolve("data.ro").toFile(), "rw")) {
            f.seek(4096 + 8);
            f.write(new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
        }
        AssertionError e = assertThrows(AssertionError.class, p::checkOk);
        assertTrue(e.getMessage().contains("FAIL ro-file-map"), e.getMessage());
        p.send("quit");
        assertEquals(1, p.awaitExit(Timeouts.EXIT), "a failed check makes the exit status 1");
    }
}
