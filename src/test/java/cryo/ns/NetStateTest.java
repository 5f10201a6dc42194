package cryo.ns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A container with a network namespace of its own (cryo run --net): cryo recreates lo and nothing else, so an
 * address, a route or a changed net sysctl added inside it is refused at checkpoint, one line each, and the
 * container runs on; a plain one checkpoints and comes back with lo up and its default addresses.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class NetStateTest {
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
        for (String tool : List.of("ip", "nsenter")) {
            boolean found = List.of("/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/").stream().anyMatch(d -> Files.isExecutable(Path.of(d + tool)));
            if (!found) System.out.println("NetStateTest skipped: " + tool + " (iproute2 / util-linux) is not installed");
            Assumptions.assumeTrue(found, tool + " is not installed");
        }
    }

    @Test
    void aPlainNetContainerCheckpointsAndRestartsWithLoopbackUp() throws Exception {
        long init = start();
        Path image = tmp.resolve("plain.img");
        Cryo.checkpoint(cleanup, init, image);
        Procfs.awaitGone(init, Timeouts.EXIT);
        Instant t0 = Instant.now();
        Cryo.Result r = Cryo.run(cleanup, "restart", "-d", image.toString()).assertOk();
        long clone = Long.parseLong(r.stdout().lines().findFirst().orElseThrow().trim());
        cleanup.foreign(clone, t0, "restored container init");
        subreaper.track(List.of(clone));
        String addrs = inNet(clone, "ip", "-o", "addr", "show", "dev", "lo");
        assertTrue(addrs.contains("inet 127.0.0.1/8") && addrs.contains("inet6 ::1/128"), addrs);
        assertEquals("", inNet(clone, "ip", "route", "show").trim());
        Containers.kill(clone);
    }

    @Test
    void anAddressARouteAndAPortRangeAreRefusedOneLineEach() throws Exception {
        long init = start();
        inNet(init, "ip", "addr", "add", "10.9.9.9/32", "dev", "lo");
        inNet(init, "ip", "route", "add", "10.1.0.0/16", "dev", "lo");
        inNet(init, "sh", "-c", "echo '20000 20100' > /proc/sys/net/ipv4/ip_local_port_range");
        List<String> lines = refused(init, "changed.img");
        String has = "task " + init + ": the container's network namespace has ", only = ": cryo recreates only lo with its addresses 127.0.0.1/8 and ::1/128";
        assertEquals(3, lines.size(), lines::toString);
        assertEquals(has + "IPv4 address 10.9.9.9 on lo" + only, lines.get(0));
        assertEquals(has + "IPv4 route 10.1.0.0/16 (link UNICAST)" + only, lines.get(1));
        assertTrue(lines.get(2).startsWith(has + "net.ipv4.ip_local_port_range = 20000 20100 (a new namespace has ")
                && lines.get(2).endsWith("): cryo does not restore it"), lines.get(2));
        assertRunsOn(init);
        Containers.kill(init);
    }

    @Test
    void anIpv6AddressAndChangedSysctlsAreRefused() throws Exception {
        Assumptions.assumeTrue(Files.exists(Path.of("/proc/net/if_inet6")), "no IPv6 in this kernel");
        long init = start();
        inNet(init, "ip", "-6", "addr", "add", "fd00::9/128", "dev", "lo");
        inNet(init, "sh", "-c", "echo 80 > /proc/sys/net/ipv4/ip_unprivileged_port_start; echo 1 > /proc/sys/net/ipv4/ip_forward");
        List<String> lines = refused(init, "v6.img");
        assertEquals(3, lines.size(), lines::toString);
        assertTrue(lines.get(0).contains("has IPv6 address fd00:0:0:0:0:0:0:9/128 on lo"), lines::toString);
        assertTrue(lines.get(1).contains("has net.ipv4.ip_unprivileged_port_start = 80 (a new namespace has "), lines::toString);
        assertTrue(lines.get(2).contains("has net.ipv4.ip_forward = 1 (a new namespace has 0)"), lines::toString);
        assertRunsOn(init);
        Containers.kill(init);
    }

    @Test
    void anAddressOnALoopbackSetDownIsRefusedAlone() throws Exception {
        long init = start();
        inNet(init, "ip", "link", "set", "lo", "down");
        inNet(init, "ip", "addr", "add", "10.9.9.9/32", "dev", "lo");
        assertEquals(List.of("task " + init + ": the container's network namespace has IPv4 address 10.9.9.9 on lo: cryo recreates only lo with its addresses 127.0.0.1/8 and ::1/128"),
                refused(init, "down.img"));
        assertRunsOn(init);
        Containers.kill(init);
    }

    /** `cryo run -d --net` of a shell loop; its init's host pid. */
    private long start() throws Exception {
        long init = Cryo.detached(cleanup, "run", "-d", "--net", "--", "sh", "-c", "while :; do sleep 1; done");
        subreaper.track(List.of(init));
        return init;
    }

    /** The refusal lines of `cryo checkpoint`, which must fail (every line but the summary closing several). */
    private List<String> refused(long init, String image) {
        Cryo.Result r = Cryo.run(cleanup, "checkpoint", Long.toString(init), "-o", tmp.resolve(image).toString());
        assertTrue(r.exit() != 0, r::describe);
        List<String> lines = new ArrayList<>();
        for (String l : r.stderrLines()) {
            assertTrue(l.startsWith("cryo: "), r::describe);
            lines.add(l.substring(6));
        }
        assertTrue(Files.notExists(tmp.resolve(image)), "no image left");
        if (lines.size() == 1) return lines;
        assertTrue(lines.getLast().startsWith("checkpoint refused for the " + (lines.size() - 1) + " reasons"), r::describe);
        return lines.subList(0, lines.size() - 1);
    }

    private static void assertRunsOn(long init) {
        var st = Procfs.stat(init).orElseThrow(() -> new AssertionError("the container's init is gone"));
        assertTrue(st.state() == 'S' || st.state() == 'R', "the init runs on: " + st.state());
        assertEquals(0, Procfs.tracerPid(init), "released");
    }

    private static String inNet(long pid, String... cmd) {
        List<String> c = new ArrayList<>(List.of("nsenter", "-t", Long.toString(pid), "-n"));
        c.addAll(List.of(cmd));
        return Containers.run(c);
    }
}
