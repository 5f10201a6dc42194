package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Open files keep their offsets and flags: a python3 program counting in memory, reading fixed-size
 * records from one file and appending a line per tick to another, carries on after restart with no gap or
 * repeat; a held-open file that grew meanwhile gets a warning but no error.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class FileOffsetTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    /** Prints "TICK n record offset": n counts in memory, record comes from the read offset of records.dat. */
    static final String COUNTER = """
            import os, sys, time
            d = sys.argv[1]
            rfd = os.open(os.path.join(d, 'records.dat'), os.O_RDONLY)
            wfd = os.open(os.path.join(d, 'count.log'), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            n = 0
            # one os.write per line: PYTHONUNBUFFERED=1 makes print() write a line in pieces, and a checkpoint
            # may fall between two of them
            os.write(1, b'READY %d\\n' % os.getpid())
            while True:
                n += 1
                rec = os.read(rfd, 8).decode().strip()
                os.write(wfd, b'%d\\n' % n)
                os.write(1, ('TICK %d %s %d\\n' % (n, rec, os.lseek(rfd, 0, os.SEEK_CUR))).encode())
                time.sleep(0.05)
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    private void writeRecords(Path dir) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= 100_000; i++) sb.append(String.format("%07d\n", i));
        Files.writeString(dir.resolve("records.dat"), sb.toString(), StandardCharsets.US_ASCII);
    }

    /** Reads the next TICK line and checks that the record read and the offset agree with the counter. */
    private static long tick(Proc p) {
        String l = p.await("TICK", s -> s.startsWith("TICK ") || s.startsWith("Traceback"));
        assertTrue(l.startsWith("TICK "), () -> "python failed:\n" + p.tails());
        String[] f = l.split(" ");
        long n = Long.parseLong(f[1]);
        assertEquals(n, Long.parseLong(f[2]), () -> "the record read does not match the counter: " + l);
        assertEquals(8 * n, Long.parseLong(f[3]), () -> "the read offset does not match the counter: " + l);
        return n;
    }

    private static long lastTick(Proc p) {
        p.out().awaitEof(Timeouts.EXIT);
        long last = -1;
        for (String l : p.out().drain())
            if (l.startsWith("TICK ")) last = Long.parseLong(l.split(" ")[1]);
        return last;
    }

    @Test
    void counterAndOffsetsContinueAfterRestart() throws IOException {
        Path python = Fixtures.python();
        Path work = Files.createDirectories(tmp.resolve("work"));
        writeRecords(work);
        Proc orig = cleanup.start("python", new ProcessBuilder(python.toString(), "-c", COUNTER, work.toString()));
        long pid = orig.awaitReady();
        assertEquals(orig.pid(), pid);
        long seen = 0;
        for (int i = 0; i < 5; i++) seen = tick(orig);

        Path image = tmp.resolve("py.img");
        Cryo.checkpoint(cleanup, pid, image);
        assertEquals("rw-------", Cryo.perms(image));
        orig.awaitExit(Timeouts.EXIT);
        long last = Math.max(seen, lastTick(orig));
        Procfs.awaitGone(pid, Timeouts.EXIT);

        Proc rest = Cryo.startRestart(cleanup, image, pid);
        assertEquals(last + 1, tick(rest), "the counter continues with no gap or repeat");
        long n = last + 1;
        for (int i = 0; i < 10; i++) assertEquals(++n, tick(rest));
        assertEquals(rest.pid(), Procfs.ppid(pid));
        assertTrue(Os.kill(pid, Os.SIGKILL));
        assertEquals(128 + Os.SIGKILL, rest.awaitExit(Timeouts.EXIT));
        Procfs.awaitGone(pid, Timeouts.EXIT);

        // the log holds 1..M exactly, M at least the last tick printed (the write comes before the print)
        List<String> log = Files.readAllLines(work.resolve("count.log"), StandardCharsets.US_ASCII);
        for (int i = 0; i < log.size(); i++)
            assertEquals(Integer.toString(i + 1), log.get(i), "count.log line " + (i + 1) + " (no gap or repeat)");
        assertTrue(log.size() >= n, "count.log kept growing after restart: " + log.size() + " lines, last tick " + n);
    }

    @Test
    void aHeldOpenFileThatGrewGetsAWarningAndTheRestartGoesOn() throws IOException {
        Path exe = Fixtures.fixture(tmp, Fixtures.Build.PIE);
        Path work = tmp.resolve("work");
        Proc orig = Fixtures.startFixture(cleanup, exe, "read", work);
        long pid = orig.pid();
        orig.checkOk();
        Path image = tmp.resolve("grow.img");
        Cryo.checkpoint(cleanup, pid, image);
        orig.awaitExit(Timeouts.EXIT);
        Procfs.awaitGone(pid, Timeouts.EXIT);

        // append.log is only held open (O_APPEND), not mapped: a changed size is a warning, not an error
        Files.writeString(work.resolve("append.log"), "written by someone else\n", StandardOpenOption.APPEND);

        Proc rest = Cryo.startRestart(cleanup, image, pid);
        rest.checkOk(); // offset as at checkpoint time; the next O_APPEND write lands at the new end
        rest.err().await("a warning naming append.log", l -> l.contains("append.log"), Timeouts.LINE);
        rest.send("quit");
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
        String log = Files.readString(work.resolve("append.log"), StandardCharsets.ISO_8859_1);
        assertTrue(log.contains("written by someone else\ncheck "), "the restored process appended at the end:\n" + log);
    }
}
