package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * One open file description shared by a parent (fd 3 and its dup fd 4) and its child (both inherited), without
 * O_APPEND (src/test/c/shared_fd.c): both write 32-byte records at the one shared offset. The image holds the
 * description once, named by one objref from four FD records; after restart it is one description again
 * (kcmp), and the file is a whole number of records with no record overwritten. A description shared with
 * a process outside the tree is refused at checkpoint unless leaks are allowed.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class SharedDescriptionTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    static final int REC = 32;
    static final Pattern RECORD = Pattern.compile("([PC]) (\\d{7}) fd([34]) *\n");

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    record Started(Proc proc, long parent, long child, Path file) {}

    private Started start() {
        Path exe = Fixtures.compile(tmp, "shared_fd", Fixtures.Build.PIE);
        Path file = tmp.resolve("records.log");
        Instant t0 = Instant.now();
        Proc p = cleanup.start("shared_fd", new ProcessBuilder(exe.toString(), file.toString()));
        String l = p.await("READY", s -> s.startsWith("READY "));
        String[] f = l.split(" ");
        long parent = Long.parseLong(f[1]), child = Long.parseLong(f[2]);
        assertEquals(p.pid(), parent);
        subreaper.foreign(cleanup, List.of(child), t0, "shared_fd child");
        return new Started(p, parent, child, file);
    }

    /** "SHARED a b c": parent fd 3 is the same description as parent fd 4 (a), child fd 3 (b) and child fd 4 (c). */
    private static void assertShared(Proc p, String when) {
        p.send("shared");
        String l = p.await("SHARED", s -> s.startsWith("SHARED "));
        assertEquals("SHARED 1 1 1", l, when + ": kcmp(KCMP_FILE) says parent fd 3, fd 4 and child fd 3, fd 4 are "
                + "one open file description (1 = same, 0 = different, -1 = kcmp failed)");
    }

    /** Counts of P and C records in the file; fails unless every record is whole and no sequence has a gap. */
    static long[] verifyRecords(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        assertEquals(0, b.length % REC, "the file is a whole number of 32-byte records: " + b.length + " bytes");
        long p = 0, c = 0;
        String s = new String(b, StandardCharsets.ISO_8859_1);
        for (int off = 0; off < b.length; off += REC) {
            String rec = s.substring(off, off + REC);
            Matcher m = RECORD.matcher(rec);
            assertTrue(m.matches(), "record " + off / REC + " at offset " + off + " is damaged: '" + rec.replace("\n", "\\n")
                    + "'\nnear it:\n" + s.substring(Math.max(0, off - 3 * REC), Math.min(b.length, off + 4 * REC)));
            long n = Long.parseLong(m.group(2));
            boolean parent = m.group(1).equals("P");
            long want = parent ? ++p : ++c;
            if (n != want)
                throw new AssertionError("record " + off / REC + " (offset " + off + "): " + m.group(1) + " " + n
                        + ", expected " + want + " (a record was overwritten or repeated)\nnear it:\n"
                        + s.substring(Math.max(0, off - 4 * REC), Math.min(b.length, off + 4 * REC)));
            if (parent) assertEquals(n % 2 == 1 ? "3" : "4", m.group(3), "P " + n + " went through the wrong fd");
            else assertEquals("3", m.group(3));
        }
        return new long[] {p, c};
    }

    /** Finds the description of the file in `cryo show`: objref -> FD records (pid, fd). */
    private Set<String> fdsSharingTheFile(Path image, Path file) {
        String show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        List<String> lines = show.lines().toList();
        String fileRef = null;
        for (String l : lines)
            if (l.startsWith("FILE") && file.toString().equals(TreeFixtures.fields(l).get("path")))
                fileRef = TreeFixtures.fields(l).get("objref");
        assertTrue(fileRef != null, "cryo show has no FILE record for " + file + ":\n" + show);
        List<String> descs = new ArrayList<>();
        for (String l : lines)
            if (l.startsWith("OPEN_FILE") && fileRef.equals(TreeFixtures.fields(l).get("file")))
                descs.add(TreeFixtures.fields(l).get("objref"));
        assertEquals(1, descs.size(), "exactly one OPEN_FILE record for " + file + " (one description):\n" + show);
        Set<String> fds = new TreeSet<>();
        for (String l : lines) {
            if (!l.startsWith("FD")) continue;
            Map<String, String> f = TreeFixtures.fields(l);
            if (descs.getFirst().equals(f.get("open_file"))) fds.add(f.get("pid") + ":" + f.get("fd"));
        }
        return fds;
    }

    @Test
    void fixtureKeepsOneDescriptionWithoutCryo() throws IOException {
        Started s = start();
        Procfs.sleep(Duration.ofMillis(300));
        assertShared(s.proc(), "before");
        s.proc().send("quit");
        assertEquals("BYE 0", s.proc().await("BYE", l -> l.startsWith("BYE ")));
        assertEquals(0, s.proc().awaitExit(Timeouts.EXIT));
        long[] n = verifyRecords(s.file());
        assertTrue(n[0] > 10 && n[1] > 10, "both wrote records: P " + n[0] + ", C " + n[1]);
    }

    @Test
    void parentAndChildKeepOneOffsetAfterRestart() throws IOException {
        Started s = start();
        Procfs.sleep(Duration.ofMillis(300));
        assertShared(s.proc(), "before checkpoint");
        Path image = tmp.resolve("shared.img");
        Cryo.checkpoint(cleanup, s.parent(), image);
        s.proc().awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(List.of(s.parent(), s.child()), Duration.ofSeconds(30));
        long[] atCheckpoint = verifyRecords(s.file());

        // fd 4 was dup'ed before the fork: the child has it too
        assertEquals(Set.of(s.parent() + ":3", s.parent() + ":4", s.child() + ":3", s.child() + ":4"),
                fdsSharingTheFile(image, s.file()),
                "the FD records naming the one description of " + s.file());

        Instant t0 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, s.parent());
        subreaper.foreign(cleanup, List.of(s.parent(), s.child()), t0, "restored shared_fd");
        assertShared(rest, "after restart");
        assertEquals(s.parent(), Procfs.ppid(s.child()), "the child's parent");
        // let both write a good while through the restored description
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (Files.size(s.file()) < (atCheckpoint[0] + atCheckpoint[1] + 400) * REC && System.nanoTime() < deadline)
            Procfs.sleep(Duration.ofMillis(50));
        assertShared(rest, "after writing on");
        rest.send("quit");
        assertEquals("BYE 0", rest.await("BYE", l -> l.startsWith("BYE ")), "the restored parent reaped its child");
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
        long[] end = verifyRecords(s.file());
        assertTrue(end[0] > atCheckpoint[0] + 50 && end[1] > atCheckpoint[1] + 50,
                "both went on writing after restart: P " + atCheckpoint[0] + " -> " + end[0] + ", C " + atCheckpoint[1] + " -> "
                        + end[1]);
    }

    @Test
    void aDescriptionSharedWithAProcessOutsideTheTreeIsALeak() throws IOException {
        Started s = start();
        Procfs.sleep(Duration.ofMillis(100));
        // checkpoint only the child: its fd 3 is shared with the parent, which is outside the tree
        Path image = tmp.resolve("leak.img");
        String line = Cryo.run(cleanup, "checkpoint", Long.toString(s.child()), "-o", image.toString()).assertOneLineError();
        System.out.println("[SharedDescriptionTest] refused: " + line);
        assertTrue(line.contains(Long.toString(s.child())) && line.contains(Long.toString(s.parent())),
                "the refusal names both tasks (" + s.child() + " in the tree, " + s.parent() + " outside): " + line);
        assertTrue(Pattern.compile("\\bfd[ =:#]?3\\b").matcher(line).find(), "the refusal names fd 3: " + line);
        assertFalse(Files.exists(image), "no image is left after a refused checkpoint");
        Procfs.assertRunningUntraced(s.child(), "the child after a refused checkpoint");
        Procfs.assertRunningUntraced(s.parent(), "the parent after a refused checkpoint");
        List<String> names = Cryo.list(tmp);
        assertFalse(names.stream().anyMatch(n -> n.contains("leak")), "no temporary image left: " + names);

        // accepted on request; the child is left running, still sharing the description with its parent
        String help = Cryo.run(cleanup, "--help").assertOk().stdout();
        assertTrue(help.contains("--allow-leaks"), "cryo --help documents --allow-leaks:\n" + help);
        Cryo.checkpoint(cleanup, s.child(), image, "--allow-leaks", "--leave-running");
        Procfs.assertRunningUntraced(s.child(), "the child after --allow-leaks --leave-running");
        assertShared(s.proc(), "after an accepted leaky checkpoint with --leave-running");
        s.proc().send("quit");
        assertEquals("BYE 0", s.proc().await("BYE", l -> l.startsWith("BYE ")));
        assertEquals(0, s.proc().awaitExit(Timeouts.EXIT));
        verifyRecords(s.file());
    }
}
