package cryo.inet;

import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/** Helpers of the UDP tests: how much a fixture's socket holds in its receive queue. */
final class UdpTesting {
    private UdpTesting() {
    }

    /** The rx_queue of /proc/PID/net/udp(6) for the socket at fd of pid: the memory its queued datagrams take. */
    static long rxQueue(long pid, int fd, boolean v6) throws IOException {
        String link = Files.readSymbolicLink(Path.of("/proc/" + pid + "/fd/" + fd)).toString();
        String ino = link.substring("socket:[".length(), link.length() - 1);
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/net/" + (v6 ? "udp6" : "udp")))) {
            String[] f = line.trim().split("\\s+");
            if (f.length > 9 && f[9].equals(ino)) return Long.parseLong(f[4].substring(f[4].indexOf(':') + 1), 16);
        }
        throw new AssertionError("socket " + link + " of pid " + pid + " is not in /proc/" + pid + "/net/" + (v6 ? "udp6" : "udp"));
    }

    /** Waits until a datagram sent to the socket at fd of pid is in its queue (its rx_queue grew past before). */
    static void awaitRxQueueAbove(long pid, int fd, boolean v6, long before) throws IOException {
        long deadline = System.nanoTime() + Timeouts.LINE.toNanos();
        while (rxQueue(pid, fd, v6) <= before) {
            if (System.nanoTime() > deadline) throw new AssertionError("a datagram sent to fd " + fd + " of pid " + pid + " never arrived");
            Procfs.sleep(Duration.ofMillis(2));
        }
    }
}
