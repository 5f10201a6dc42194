package cryo.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Images hold process memory: always mode 0600, whatever the umask; written whole under the final name. */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ImageFileTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }


    @Test
    void imageIsMode0600EvenWithUmask0() throws IOException {
        Proc target = Fixtures.startSleep(cleanup);
        Path out = Files.createDirectories(tmp.resolve("out"));
        Path image = out.resolve("s.img");
        List<String> cmd = List.of("sh", "-c", "umask 0; exec \"$0\" checkpoint \"$1\" -o \"$2\" --leave-running",
                Cryo.bin().toString(), Long.toString(target.pid()), image.toString());
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(Cryo.root().toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        Cryo.environment(pb, Map.of());
        Cryo.collect(cleanup, cmd, pb).assertOk();
        assertEquals("rw-------", Cryo.perms(image));
        assertEquals(List.of("s.img"), Cryo.list(out), "only the image, no temporary file");
        Procfs.assertRunningUntraced(target.pid(), "the target after --leave-running");
    }

    @Test
    void anExistingFileIsReplacedByAPrivateImage() throws IOException {
        Proc target = Fixtures.startSleep(cleanup);
        Path out = Files.createDirectories(tmp.resolve("out"));
        Path image = out.resolve("old.img");
        Files.writeString(image, "old contents");
        Files.setPosixFilePermissions(image, PosixFilePermissions.fromString("rw-r--r--"));
        Cryo.checkpoint(cleanup, target.pid(), image, "--leave-running");
        assertEquals("rw-------", Cryo.perms(image));
        assertNotEquals("old contents", new String(Files.readAllBytes(image), java.nio.charset.StandardCharsets.ISO_8859_1));
        assertEquals(List.of("old.img"), Cryo.list(out));
    }
}
