package cryo.cli;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Cryo.Result;
import cryo.testing.Fixtures;
import cryo.testing.Fixtures.Build;
import cryo.testing.Leftovers;
import cryo.testing.Os;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Bad input: each case is a non-zero exit with exactly one stderr line starting "cryo: ", no stack trace,
 * and nothing left behind (no image file, no process, the target as it was).
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class BadInputTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    private Path emptyDir(String name) throws IOException {
        return Files.createDirectories(tmp.resolve(name));
    }


    // ------------------------------------------------------------------ checkpoint

    @Test
    void noSuchPid() throws IOException {
        long pid = Procfs.freePid();
        Path out = emptyDir("out");
        Cryo.run(cleanup, "checkpoint", Long.toString(pid), "-o", out.resolve("x.img").toString()).assertOneLineError();
        assertEquals(List.of(), Cryo.list(out), "no image, not even a temporary one");
    }

    @Test
    void kernelThread() throws IOException {
        var kt = Procfs.kernelThread();
        if (kt.isEmpty()) System.out.println("SKIPPED: no kernel thread is visible here (pid namespace?)");
        assumeTrue(kt.isPresent(), "no kernel thread visible");
        Path out = emptyDir("out");
        Cryo.run(cleanup, "checkpoint", Long.toString(kt.get().pid()), "-o", out.resolve("k.img").toString())
                .assertOneLineError();
        assertEquals(List.of(), Cryo.list(out));
        Procfs.assertRunningUntraced(kt.get().pid(), "kernel thread " + kt.get().comm());
    }

    static final List<String> AS_NOBODY = List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--");

    /** Skips (with the reason printed) unless setpriv exists and user 65534 can run cryo from here. */
    private void assumeNobodyCanRunCryo() {
        Fixtures.assumeTool("setpriv");
        String cp = System.getenv().getOrDefault("CRYO_CP", Cryo.root().resolve("target/classes").toString());
        String java = System.getenv().getOrDefault("CRYO_JAVA_HOME", "/usr/lib/jvm/temurin-25-jdk-amd64") + "/bin/java";
        List<String> probe = new ArrayList<>(AS_NOBODY);
        probe.addAll(List.of("sh", "-c",
                "test -x \"$0\" && test -x \"$1\" && test -r \"$2\" && [ -z \"$(find \"$2\" ! -readable -print -quit)\" ]",
                Cryo.bin().toString(), java, cp));
        Result r = Cryo.collect(cleanup, probe, new ProcessBuilder(probe).directory(Cryo.root().toFile()));
        boolean ok = r.exit() == 0;
        if (!ok)
            System.out.println("SKIPPED: user 65534 cannot read/execute bin/cryo, " + java + " or the class path " + cp);
        assumeTrue(ok, "user 65534 cannot run cryo from " + cp);
    }

    @Test
    void processCryoMayNotTrace() throws IOException {
        assumeNobodyCanRunCryo();
        Proc target = Fixtures.startSleep(cleanup);
        Path out = Files.createTempDirectory("cryo-nobody-");
        cleanup.deleteLater(out);
        Files.setPosixFilePermissions(out, PosixFilePermissions.fromString("rwxrwxrwx"));
        Cryo.run(cleanup, Map.of(), AS_NOBODY, null, "checkpoint", Long.toString(target.pid()), "-o",
                out.resolve("n.img").toString()).assertOneLineError();
        assertEquals(List.of(), Cryo.list(out));
        Procfs.assertRunningUntraced(target.pid(), "the root-owned target");
    }

    @Test
    void targetDiesDuringCheckpoint() throws IOException {
        Proc target = Fixtures.startSleep(cleanup);
        Path out = emptyDir("out");
        Cryo.runEnv(cleanup, Map.of("CRYO_FAULT", "kill-target"), "checkpoint", Long.toString(target.pid()), "-o",
                out.resolve("d.img").toString()).assertOneLineError();
        assertEquals(List.of(), Cryo.list(out), "no image, not even a temporary one");
        target.awaitExit(Timeouts.EXIT);
    }

    // ------------------------------------------------------------------ restart: pid in use

    @Test
    void restartWhileTheOriginalStillRuns() {
        Path exe = Fixtures.fixture(tmp, Build.PIE);
        Proc orig = Fixtures.startFixture(cleanup, exe, "read", tmp.resolve("work"));
        long pid = orig.pid();
        Path image = tmp.resolve("busy.img");
        Cryo.checkpoint(cleanup, pid, image, "--leave-running");
        orig.checkOk();

        Leftovers before = Leftovers.snapshot();
        Cryo.restartExpectingFailure(cleanup, image, pid).assertOneLineError();
        before.assertNone(cleanup, "a restart onto a pid in use");
        Procfs.assertRunningUntraced(pid, "the original");
        orig.checkOk();
        assertEquals(Long.toString(pid), orig.status().get("pid"));
    }

    @Test
    void restartWhileThePidIsAZombieNotYetReaped() {
        // the parent never waits: its child stays a zombie once checkpoint has killed it
        Proc parent = cleanup.start("zombie-parent",
                new ProcessBuilder("sh", "-c", "sleep 100000 & echo $!; exec sleep 100001"));
        long child = Long.parseLong(parent.out().next("the child's pid", Timeouts.LINE).trim());
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (!Procfs.stat(child).map(s -> s.comm().equals("sleep")).orElse(false)
                || !Procfs.stat(parent.pid()).map(s -> s.comm().equals("sleep")).orElse(false)) {
            assertTrue(System.nanoTime() < deadline, "the sleeps did not start");
            Procfs.sleep(Duration.ofMillis(10));
        }
        Path image = tmp.resolve("zombie.img");
        Cryo.checkpoint(cleanup, child, image);
        Procfs.awaitState(child, 'Z', Timeouts.EXIT);

        Leftovers before = Leftovers.snapshot();
        Cryo.restartExpectingFailure(cleanup, image, child).assertOneLineError();
        before.assertNone(cleanup, "a restart onto a zombie's pid");
        assertEquals('Z', Procfs.state(child), "the zombie is still there, unreaped");
        assertEquals(parent.pid(), Procfs.ppid(child));
    }

    // ------------------------------------------------------------------ restart: damaged images

    /** An image of the sleeping fixture whose pid is free again; returns {image, pid, last tick}. */
    private record Saved(Path image, long pid, long lastTick, Path exe, Path work) {}

    private Saved checkpointedFixture(String name) {
        Path exe = Fixtures.fixture(tmp, Build.PIE);
        Path work = tmp.resolve("work-" + name);
        Proc orig = Fixtures.startFixture(cleanup, exe, "sleep", work);
        long pid = orig.pid();
        orig.nextTick();
        Path image = tmp.resolve(name + ".img");
        Cryo.checkpoint(cleanup, pid, image);
        orig.awaitExit(Timeouts.EXIT);
        long last = orig.lastTickAfterEof();
        Procfs.awaitGone(pid, Timeouts.EXIT);
        return new Saved(image, pid, last, exe, work);
    }

    private static byte[] flip(byte[] b, int at, int mask) {
        byte[] c = b.clone();
        c[at] ^= (byte) mask;
        return c;
    }

    @Test
    void damagedImagesAreRejectedBeforeAnythingIsRestored() throws IOException {
        Saved s = checkpointedFixture("good");
        byte[] good = Files.readAllBytes(s.image());
        assertTrue(good.length > 64, "image too small: " + good.length);
        Map<String, byte[]> variants = new LinkedHashMap<>();
        variants.put("empty", new byte[0]);
        variants.put("first 16 bytes only", Arrays.copyOf(good, 16));
        variants.put("truncated to half", Arrays.copyOf(good, good.length / 2));
        variants.put("truncated by 4 KiB", Arrays.copyOf(good, Math.max(1, good.length - 4096)));
        variants.put("truncated by one byte", Arrays.copyOf(good, good.length - 1));
        variants.put("one flipped byte in the middle", flip(good, good.length / 2, 0x01));
        variants.put("one flipped byte at 3/4", flip(good, good.length / 4 * 3 + 5, 0x80));
        variants.put("one flipped byte near the start", flip(good, 40, 0x04));
        byte[] magic = good.clone();
        for (int i = 0; i < 8; i++) magic[i] ^= (byte) 0xff;
        variants.put("wrong magic", magic);

        List<Executable> checks = new ArrayList<>();
        int i = 0;
        for (var v : variants.entrySet()) {
            Path bad = tmp.resolve("bad-" + (i++) + ".img");
            Files.write(bad, v.getValue());
            checks.add(() -> {
                Leftovers before = Leftovers.snapshot();
                try {
                    Cryo.restartExpectingFailure(cleanup, bad, s.pid()).assertOneLineError();
                } catch (AssertionError e) {
                    throw new AssertionError("restart of an image with " + v.getKey() + ": " + e.getMessage(), e);
                }
                assertFalse(Procfs.exists(s.pid()), "restart of an image with " + v.getKey() + " left pid " + s.pid());
                before.assertNone(cleanup, "restart of an image with " + v.getKey());
            });
            checks.add(() -> {
                try {
                    Cryo.run(cleanup, "show", bad.toString()).assertOneLineError();
                } catch (AssertionError e) {
                    throw new AssertionError("show of an image with " + v.getKey() + ": " + e.getMessage(), e);
                }
            });
        }
        assertAll("damaged images", checks.stream());

        // control: the undamaged image does restart, so the failures above came from the damage
        Proc rest = Cryo.startRestart(cleanup, s.image(), s.pid());
        assertEquals(s.lastTick() + 1, rest.nextTick(), "control: the undamaged image restarts");
        assertTrue(Os.kill(s.pid(), Os.SIGKILL));
        assertEquals(128 + Os.SIGKILL, rest.awaitExit(Timeouts.EXIT));
    }

    // ------------------------------------------------------------------ restart: referenced files

    enum Change {
        /** the read-only shared mapping's file grew */
        MAPPED_FILE_GREW("data.ro"),
        /** rewritten in place, same size: its mtime changed */
        MAPPED_FILE_REWRITTEN("data.ro"),
        /** only its mtime changed */
        MAPPED_FILE_TOUCHED("data.ro"),
        /** replaced by a new file with the same bytes (new inode) */
        MAPPED_FILE_REPLACED("data.shared"),
        MAPPED_FILE_DELETED("data.ro"),
        PRIVATE_MAPPED_FILE_DELETED("data.priv"),
        /** the executable itself changed */
        EXECUTABLE_GREW("fixture"),
        /** a file only held open (not mapped) is gone */
        OPEN_FILE_DELETED("offset.dat");

        final String file;

        Change(String file) {
            this.file = file;
        }
    }

    @ParameterizedTest
    @EnumSource(Change.class)
    void referencedFileChangedOrDeleted(Change change) throws IOException {
        Saved s = checkpointedFixture(change.name().toLowerCase());
        Path f = change == Change.EXECUTABLE_GREW ? s.exe() : s.work().resolve(change.file);
        FileTime mtime = Files.getLastModifiedTime(f);
        switch (change) {
            case MAPPED_FILE_GREW, EXECUTABLE_GREW -> Files.write(f, new byte[4096], StandardOpenOption.APPEND);
            case MAPPED_FILE_REWRITTEN -> {
                byte[] b = Files.readAllBytes(f);
                b[100] ^= 1;
                try (var ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                    ch.write(ByteBuffer.wrap(b), 0);
                }
                Files.setLastModifiedTime(f, FileTime.from(mtime.toInstant().plus(1, ChronoUnit.HOURS)));
            }
            case MAPPED_FILE_TOUCHED -> Files.setLastModifiedTime(f, FileTime.from(mtime.toInstant().plus(1, ChronoUnit.HOURS)));
            case MAPPED_FILE_REPLACED -> {
                byte[] b = Files.readAllBytes(f);
                Path tmpf = f.resolveSibling(change.file + ".new");
                Files.write(tmpf, b);
                Files.setLastModifiedTime(tmpf, mtime);
                Files.move(tmpf, f, StandardCopyOption.REPLACE_EXISTING,
                        StandardCopyOption.ATOMIC_MOVE);
            }
            case MAPPED_FILE_DELETED, PRIVATE_MAPPED_FILE_DELETED, OPEN_FILE_DELETED -> Files.delete(f);
        }

        Leftovers before = Leftovers.snapshot();
        String line = Cryo.restartExpectingFailure(cleanup, s.image(), s.pid()).assertOneLineError();
        assertTrue(line.contains(change.file), "the error names the file " + change.file + ": " + line);
        assertFalse(Procfs.exists(s.pid()), "pid " + s.pid() + " left behind");
        before.assertNone(cleanup, "a restart refused for " + change);
    }
}
