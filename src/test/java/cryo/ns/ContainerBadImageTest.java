package cryo.ns;

import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.image.ImageRecord;
import cryo.image.Tree;
import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Leftovers;
import cryo.testing.Proc;
import cryo.testing.Timeouts;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Images whose NAMESPACES record is wrong, re-encoded with cryo's own classes from good images: each restart
 * fails with one line naming the record and field, and leaves no process behind. And the error for a pid in
 * use at the restart of a plain tree points at --fresh-pid-ns.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class ContainerBadImageTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    private static UnaryOperator<List<ImageRecord>> namespaces(UnaryOperator<NamespacesRecord> change) {
        return rs -> {
            List<ImageRecord> out = new ArrayList<>();
            for (ImageRecord r : rs) out.add(r instanceof NamespacesRecord n ? change.apply(n) : r);
            return out;
        };
    }

    private String restartFails(Path image, Path bad, UnaryOperator<List<ImageRecord>> change) {
        TreeFixtures.rewrite(image, bad, change);
        subreaper.off();
        Leftovers before = Leftovers.snapshot();
        Cryo.Result r = Cryo.run(cleanup, "restart", "-d", bad.toString());
        String line = r.assertOneLineError();
        before.assertNone(cleanup, "a restart of " + bad.getFileName());
        subreaper.on();
        return line;
    }

    @Test
    void badNamespacesRecordsAreOneLineErrors() {
        Containers.Running c = Containers.start(cleanup, subreaper, tmp, "bad", false);
        Path image = tmp.resolve("c.img");
        Cryo.checkpoint(cleanup, c.init(), image);
        c.unshare().awaitExit(Timeouts.EXIT);

        String l = restartFails(image, tmp.resolve("no-pid.img"), namespaces(n -> new NamespacesRecord(EnumSet.of(Namespace.UTS, Namespace.IPC), n.hostname(), n.domainname(), false)));
        assertTrue(l.contains("NAMESPACES") && l.contains("'namespaces'") && l.contains("lacks the pid namespace"), l);
        l = restartFails(image, tmp.resolve("long-name.img"), namespaces(n -> new NamespacesRecord(n.own(), "x".repeat(65), n.domainname(), false)));
        assertTrue(l.contains("NAMESPACES") && l.contains("'hostname'") && l.contains("longer than 64"), l);
        l = restartFails(image, tmp.resolve("lo-no-net.img"), namespaces(n -> new NamespacesRecord(n.own(), n.hostname(), n.domainname(), true)));
        assertTrue(l.contains("NAMESPACES") && l.contains("'loopback_up'"), l);
        l = restartFails(image, tmp.resolve("name-no-uts.img"), namespaces(n -> new NamespacesRecord(EnumSet.of(Namespace.PID), "box", "", false)));
        assertTrue(l.contains("NAMESPACES") && l.contains("'hostname'") && l.contains("without a UTS namespace"), l);
    }

    @Test
    void aContainerWhoseInitIsNotPidOneIsRefused() {
        Proc sleep = cleanup.start("sleep", new ProcessBuilder("sleep", "100000"));
        Path image = tmp.resolve("plain.img");
        Cryo.checkpoint(cleanup, sleep.pid(), image);
        sleep.awaitExit(Timeouts.EXIT);
        String l = restartFails(image, tmp.resolve("init-not-1.img"), rs -> {
            List<ImageRecord> out = new ArrayList<>();
            for (ImageRecord r : rs) {
                out.add(r);
                if (r instanceof Tree) out.add(new NamespacesRecord(EnumSet.of(Namespace.PID), "", "", false));
            }
            return out;
        });
        assertTrue(l.contains("NAMESPACES") && l.contains("init is pid " + sleep.pid() + " in the TREE, not 1"), l);
    }

    @Test
    void aPidInUseSuggestsAFreshPidNamespace() {
        Proc sleep = cleanup.start("sleep", new ProcessBuilder("sleep", "100000"));
        Path image = tmp.resolve("running.img");
        Cryo.checkpoint(cleanup, sleep.pid(), image, "--leave-running");
        String l = Cryo.run(cleanup, "restart", "-d", image.toString()).assertOneLineError();
        assertTrue(l.contains("pid " + sleep.pid() + " is in use: ") && l.contains("(cryo restart --fresh-pid-ns IMG restarts the tree in a new pid namespace)"), l);
        assertTrue(sleep.isAlive());
    }

}
