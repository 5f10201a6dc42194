package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A file only watched (inotify), neither open nor mapped, that changes while the tree is down is what a
 * watcher is for: restart checks it is still the same file and says nothing of its new size; its next
 * change fires the watch.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class InotifyWatchedFileTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    private static final String WATCHER = """
            import ctypes, os, struct, sys
            libc = ctypes.CDLL(None, use_errno=True)
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            fd = libc.inotify_init1(0)
            wd = libc.inotify_add_watch(fd, sys.argv[1].encode(), 0x2)   # IN_MODIFY
            os.write(1, b'READY %d\\n' % os.getpid())
            while True:
                buf = os.read(fd, 4096)
                for at in range(0, len(buf), 16):
                    w, mask, cookie, n = struct.unpack_from("iIII", buf, at)
                    os.write(1, b'EVENT %d %x\\n' % (w, mask))
            """;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    @Test
    void aWatchedFileThatChangedWhileDownGivesNoWarning() throws IOException {
        Path f = tmp.resolve("watched.log");
        Files.writeString(f, "one\n");
        Proc p = cleanup.start("watcher", new ProcessBuilder(Fixtures.python().toString(), "-c", WATCHER, f.toString()));
        long pid = p.awaitReady();
        Path image = tmp.resolve("w.img");
        Cryo.checkpoint(cleanup, pid, image);
        p.awaitExit(Timeouts.EXIT);
        Procfs.awaitGone(pid, Timeouts.EXIT);

        Files.writeString(f, "written while the watcher was away\n", StandardOpenOption.APPEND);
        Proc r = Cryo.startRestart(cleanup, image, pid);
        PipeFixtureTest.awaitReleased(r, java.util.List.of(pid));   // the watch is back once cryo lets go
        Files.writeString(f, "after\n", StandardOpenOption.APPEND);
        assertEquals("EVENT 1 2", r.await("EVENT", l -> l.startsWith("EVENT")), "the restored watch fires on the next change");
        assertTrue(r.err().all().stream().noneMatch(l -> l.contains("changed")), "no warning about the watched file: " + r.err().all());
        r.closeStdin();
    }
}
