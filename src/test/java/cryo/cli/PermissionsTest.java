package cryo.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Cryo.Result;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Who may run cryo, and who may read its images (issue 16): a user without the capabilities checkpoint and
 * restart need is refused in one line naming them and the uid, before anything is touched; `cryo show` of a
 * readable image needs no privilege; an image is 0600, also when written through `-o -` into a file the
 * shell created with umask 022.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class PermissionsTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    /** World-readable (0755): user 65534 reads the images in it. */
    private Path dir;

    @BeforeEach
    void setUp() throws IOException {
        Fixtures.assumeRoot();
        dir = Files.createTempDirectory("cryo-perms-");
        cleanup.deleteLater(dir);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    /** Skips unless setpriv exists and user 65534 can run cryo from here (the JDK, bin/cryo, the classes). */
    private void assumeNobodyCanRunCryo() {
        Fixtures.assumeTool("setpriv");
        String cp = System.getenv().getOrDefault("CRYO_CP", Cryo.root().resolve("target/classes").toString());
        String java = System.getenv().getOrDefault("CRYO_JAVA_HOME", "/usr/lib/jvm/temurin-25-jdk-amd64") + "/bin/java";
        List<String> probe = new ArrayList<>(BadInputTest.AS_NOBODY);
        probe.addAll(List.of("sh", "-c",
                "test -x \"$0\" && test -x \"$1\" && test -r \"$2\" && [ -z \"$(find \"$2\" ! -readable -print -quit)\" ]",
                Cryo.bin().toString(), java, cp));
        boolean ok = Cryo.collect(cleanup, probe, new ProcessBuilder(probe).directory(Cryo.root().toFile())).exit() == 0;
        if (!ok) System.out.println("SKIPPED: user 65534 cannot read/execute bin/cryo, " + java + " or the class path " + cp);
        assumeTrue(ok, "user 65534 cannot run cryo from " + cp);
    }

    private Result asNobody(String... args) {
        return Cryo.run(cleanup, Map.of(), BadInputTest.AS_NOBODY, null, args);
    }

    @Test
    void aUserWithoutCapabilitiesIsRefusedBeforeAnythingIsTouched() throws IOException {
        assumeNobodyCanRunCryo();
        // nobody's own process, which nobody could even ptrace: still refused, and never seized
        Proc target = cleanup.start("nobody's sleep", new ProcessBuilder(concat(BadInputTest.AS_NOBODY, "sleep", "100000")));
        Procfs.awaitState(target.pid(), 'S', java.time.Duration.ofSeconds(30));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        String line = asNobody("checkpoint", Long.toString(target.pid()), "-o", dir.resolve("n.img").toString()).assertOneLineError();
        assertEquals("cryo: checkpoint needs CAP_SYS_PTRACE, which uid 65534 does not have here: run cryo as root (nothing was touched)", line);
        assertEquals(List.of(), Cryo.list(dir));
        Procfs.assertRunningUntraced(target.pid(), "nobody's sleep");

        Path img = dir.resolve("s.img");
        Cryo.checkpoint(cleanup, Fixtures.startSleep(cleanup).pid(), img, "--leave-running");
        Files.setPosixFilePermissions(img, PosixFilePermissions.fromString("rw-r--r--"));
        line = asNobody("restart", img.toString()).assertOneLineError();
        assertEquals("cryo: restart needs CAP_SYS_PTRACE and CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE), which uid 65534 does not have here:"
                + " run cryo as root (nothing was touched)", line);

        Result check = asNobody("check");
        assertEquals(1, check.exit(), check.describe());
        assertEquals(List.of("cryo: checkpoint needs CAP_SYS_PTRACE; restart needs CAP_SYS_PTRACE and CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE),"
                + " which uid 65534 does not have here: run cryo as root"), check.stderrLines());
        assertTrue(check.stdout().contains("FAIL  CAP_SYS_PTRACE"), check.describe());
    }

    @Test
    void showOfAReadableImageNeedsNoPrivilege() throws IOException {
        assumeNobodyCanRunCryo();
        Path img = dir.resolve("s.img");
        Cryo.checkpoint(cleanup, Fixtures.startSleep(cleanup).pid(), img, "--leave-running");
        Files.setPosixFilePermissions(img, PosixFilePermissions.fromString("rw-r--r--"));
        Result r = asNobody("show", img.toString()).assertOk();
        assertTrue(r.stdout().startsWith("HEAD") && r.stdout().contains("TREE"), r.describe());
    }

    /** `cryo checkpoint PID -o - > img` under umask 022: the shell creates img 0644, cryo makes it 0600. */
    @Test
    void anImageOnStdoutIntoAFileIsMadePrivate() throws IOException {
        Proc target = Fixtures.startSleep(cleanup);
        Path img = dir.resolve("out.img");
        List<String> cmd = List.of("sh", "-c", "umask 022; exec \"$0\" checkpoint $1 -o - --leave-running > \"$2\"",
                Cryo.bin().toString(), Long.toString(target.pid()), img.toString());
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(Cryo.root().toFile());
        Cryo.environment(pb, Map.of());
        Cryo.collect(cleanup, cmd, pb).assertOk();
        assertEquals("rw-------", Cryo.perms(img));
        Cryo.run(cleanup, "show", img.toString()).assertOk();
        Procfs.assertRunningUntraced(target.pid(), "the target");
        // -o FILE: a new file (ImageFileTest covers umask 0 and a replaced file)
        Path file = dir.resolve("file.img");
        Cryo.checkpoint(cleanup, target.pid(), file, "--leave-running");
        assertEquals("rw-------", Cryo.perms(file));
    }

    private static List<String> concat(List<String> a, String... b) {
        List<String> l = new ArrayList<>(a);
        l.addAll(List.of(b));
        return l;
    }
}
