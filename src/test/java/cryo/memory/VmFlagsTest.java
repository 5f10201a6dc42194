package cryo.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Mappings with VmFlags set by madvise, mlock and mmap flags (src/test/c/vmflags.c): after restart every
 * mapping of the process has the VmFlags, protection, offset and path it had, mapping by mapping, and fork
 * in the restored process behaves as the flags say. What cryo cannot restore is refused at checkpoint with
 * a line naming the mapping and the flag.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class VmFlagsTest {
    @RegisterExtension
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    private Proc start(String mode, Map<String, String> regions) throws Exception {
        Path exe = Fixtures.compile(tmp, "vmflags", Fixtures.Build.PIE);
        Path work = Files.createDirectories(tmp.resolve("work"));
        List<String> cmd = new ArrayList<>(List.of(exe.toString(), work.toString()));
        if (!mode.isEmpty()) cmd.add(mode);
        Proc p = cleanup.start("vmflags", new ProcessBuilder(cmd));
        String ready = p.await("READY", l -> l.startsWith("READY ") || l.startsWith("ERROR"));
        assertTrue(ready.startsWith("READY "), ready);
        while (true) {
            String[] f = p.await("REGION or END", l -> l.startsWith("REGION ") || l.equals("END")).split(" ");
            if (f[0].equals("END")) break;
            regions.put(f[2] + "-" + f[3], f[1]);
        }
        return p;
    }

    /** Every mapping as "range perms pgoff path [flags]", the vdso's included. */
    private static Map<Long, String> layout(long pid) {
        Map<Long, String> out = new TreeMap<>();
        for (Smaps m : Smaps.of(pid)) {
            String path = m.path().equals("[heap]") ? "" : m.path();    // [heap] is named from brk, which may be elsewhere
            out.put(m.start(), m.range() + " " + m.perms() + " pgoff=" + m.pgoff() + " " + path + " [" + String.join(" ", m.vmFlags()) + "]");
        }
        return out;
    }

    @Test
    void everyMappingComesBackWithItsVmFlags() throws Exception {
        Map<String, String> regions = new TreeMap<>();
        Proc orig = start("", regions);
        long pid = orig.pid();
        Map<Long, String> before = layout(pid);
        for (String flag : List.of("dc", "dd", "wf", "sr", "rr", "hg", "nh", "lo", "nr"))
            assertTrue(before.values().stream().anyMatch(l -> l.contains(" " + flag + " ") || l.contains(" " + flag + "]")),
                    "the fixture set VmFlags " + flag + ":\n" + String.join("\n", before.values()));

        Path image = tmp.resolve("vmflags.img");
        Cryo.checkpoint(cleanup, pid, image);
        orig.awaitExit(Timeouts.EXIT);
        Procfs.awaitGone(pid, Timeouts.EXIT);

        Proc rest = Cryo.startRestart(cleanup, image, pid);
        rest.send("check");
        assertEquals("OK", rest.await("OK", l -> l.equals("OK") || l.equals("FAILED")), "contents after restart:\n" + rest.tails());
        Map<Long, String> after = layout(pid);
        List<String> diff = new ArrayList<>();
        for (var e : before.entrySet()) {
            String a = after.get(e.getKey());
            if (!e.getValue().equals(a)) diff.add("before: " + e.getValue() + " (" + regions.getOrDefault(e.getValue().split(" ")[0], "") + ")\n after: " + a);
        }
        for (var e : after.entrySet()) if (!before.containsKey(e.getKey())) diff.add("new after restart: " + e.getValue());
        assertTrue(diff.isEmpty(), "mappings that differ after restart:\n" + String.join("\n", diff));
        rest.send("fork");
        assertEquals("FORK OK", rest.await("FORK", l -> l.startsWith("FORK ")), "fork after restart:\n" + rest.tails());
        rest.send("quit");
        rest.await("BYE", "BYE"::equals);
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
    }

    @ParameterizedTest
    @ValueSource(strings = {"uffd", "mseal"})
    void aFlagThatCannotComeBackIsRefusedNamingTheMappingAndTheFlag(String mode) throws Exception {
        Map<String, String> regions = new TreeMap<>();
        Proc orig = start(mode, regions);
        long pid = orig.pid();
        String range = regions.entrySet().stream().filter(e -> e.getValue().equals(mode)).findFirst().orElseThrow().getKey();
        Path image = tmp.resolve(mode + ".img");
        // a userfaultfd is refused twice: its registered mapping and its fd (every reason is listed)
        Cryo.Result r = Cryo.run(cleanup, "checkpoint", Long.toString(pid), "-o", image.toString());
        assertTrue(r.exit() != 0, r::describe);
        System.out.println("[VmFlagsTest] refused: " + r.stderr());
        String flag = mode.equals("uffd") ? "um" : "sl";
        assertTrue(r.stderrLines().stream().anyMatch(line -> line.startsWith("cryo: ") && line.contains(range) && line.contains(flag)),
                "a refusal names mapping " + range + " and VmFlags " + flag + ": " + r.describe());
        assertFalse(r.stderr().contains("Exception"), r::describe);
        assertFalse(Files.exists(image), "no image after a refused checkpoint");
        Procfs.assertRunningUntraced(pid, "the fixture after a refused checkpoint");
        orig.send("check");
        assertEquals("OK", orig.await("OK", l -> l.equals("OK") || l.equals("FAILED")));
        orig.send("quit");
        assertEquals(0, orig.awaitExit(Timeouts.EXIT));
    }
}
