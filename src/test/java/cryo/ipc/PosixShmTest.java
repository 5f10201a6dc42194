package cryo.ipc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import cryo.task.Subreaper;
import cryo.task.TreeFixtures;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * POSIX shared memory and semaphores (src/test/c/posix_shm.c checks itself): shm_open'ed objects named and
 * unlinked, sem_open'ed semaphores named and unlinked, an unnamed process-shared semaphore and a
 * PTHREAD_PROCESS_SHARED mutex in an anonymous MAP_SHARED region; a parent blocked in sem_wait and its child
 * blocked in pthread_mutex_lock across checkpoint and restart wake up when posted and unlocked after it, and
 * so does a child in sem_timedwait with a deadline (which must not see EINTR). Each /dev/shm file mapped by
 * several processes is one object after restart.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class PosixShmTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    /** Every /dev/shm name of this test starts with it (shm objects) or with "sem." and it (semaphores). */
    final String prefix = "cryo-test-" + ProcessHandle.current().pid() + "-" + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 16);

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    @AfterEach
    void removeNames() {
        removeShmNames(prefix);
    }

    /** Removes /dev/shm/PREFIX* and /dev/shm/sem.PREFIX*. */
    static void removeShmNames(String prefix) {
        try (DirectoryStream<Path> d = Files.newDirectoryStream(Path.of("/dev/shm"))) {
            for (Path p : d) {
                String n = p.getFileName().toString();
                if (n.startsWith(prefix) || n.startsWith("sem." + prefix)) Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new AssertionError("cannot clean /dev/shm of " + prefix + "*", e);
        }
    }

    static List<String> shmNames(String prefix) {
        List<String> names = new ArrayList<>();
        try (DirectoryStream<Path> d = Files.newDirectoryStream(Path.of("/dev/shm"))) {
            for (Path p : d) {
                String n = p.getFileName().toString();
                if (n.startsWith(prefix) || n.startsWith("sem." + prefix)) names.add(n);
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        names.sort(null);
        return names;
    }

    /**
     * The /dev/shm files the processes map, by inode: each one's mappings ("PID@START" of /proc/PID/maps).
     * The path alone does not name an object: sem_open(O_CREAT) maps a temporary name it then links to the
     * semaphore's name and unlinks, so its creator's maps say "sem.XXXXXX (deleted)" for a file that has a
     * name, which processes that open the semaphore later show.
     */
    static Map<Long, Set<String>> shmObjects(List<Long> pids) {
        Map<Long, Set<String>> out = new TreeMap<>();
        for (long pid : pids) {
            try {
                for (String l : Files.readAllLines(Path.of("/proc/" + pid + "/maps"))) {
                    String[] f = l.trim().split("\\s+", 6);
                    if (f.length == 6 && f[5].startsWith("/dev/shm/")) {
                        out.computeIfAbsent(Long.parseLong(f[4]), k -> new TreeSet<>()).add(pid + "@" + f[0].substring(0, f[0].indexOf('-')));
                    }
                }
            } catch (IOException e) {
                throw new AssertionError("cannot read the maps of " + pid, e);
            }
        }
        return out;
    }

    /**
     * Asserts that the mappings of /dev/shm files are grouped into objects after restart as they were before:
     * mappings of one file in several processes stay one object, different files stay different.
     */
    static void assertSameObjects(Map<Long, Set<String>> before, List<Long> pids, String when) {
        Map<Long, Set<String>> after = shmObjects(pids);
        assertEquals(new HashSet<>(before.values()), new HashSet<>(after.values()),
                when + ": the mappings (PID@ADDRESS) of each /dev/shm file, before and after; by inode: before " + before + ", after " + after);
    }

    /** The names in /dev/shm of the inodes: what the processes that map them may leave behind. */
    static List<Path> namesOf(Set<Long> inodes) {
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> d = Files.newDirectoryStream(Path.of("/dev/shm"))) {
            for (Path p : d) {
                try {
                    if (inodes.contains((Long) Files.getAttribute(p, "unix:ino", LinkOption.NOFOLLOW_LINKS))) out.add(p);
                } catch (NoSuchFileException e) {
                    // gone meanwhile
                }
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return out;
    }

    private static void command(Proc p, String cmd, String when) {
        p.send(cmd);
        String l = p.await("OK or FAIL", s -> s.startsWith("OK ") || s.startsWith("FAIL "));
        assertEquals("OK " + cmd, l, "posix_shm " + cmd + " " + when + "\n" + p.tails());
    }

    @Test
    void blockedOnSemaphoresAndAMutexWakeAfterRestart() {
        Path exe = Fixtures.compile(tmp, "posix_shm", Fixtures.Build.PIE);
        Instant t0 = Instant.now();
        Proc p = cleanup.start("posix_shm", new ProcessBuilder(exe.toString(), prefix));
        String ready = p.await("READY", s -> s.startsWith("READY "));
        List<Long> pids = Arrays.stream(ready.substring(6).trim().split(" ")).map(Long::parseLong).toList();
        assertEquals(p.pid(), pids.getFirst());
        subreaper.foreign(cleanup, pids.subList(1, pids.size()), t0, "posix_shm waiter and child");
        command(p, "check", "before the checkpoint");
        Map<Long, Set<String>> objects = shmObjects(pids);
        assertEquals(4, objects.size(), "shm, shmgone, sem and semgone mapped: " + objects);
        assertEquals(List.of(List.of(4), List.of(4), List.of(4), List.of(4)),
                objects.values().stream().map(m -> List.of(m.size())).toList(), "each mapped by all four processes: " + objects);
        List<String> names = shmNames(prefix);
        assertEquals(List.of(prefix + "-shm", "sem." + prefix + "-sem"), names);

        Path image = tmp.resolve("posix_shm.img");
        Cryo.checkpoint(cleanup, pids.getFirst(), image);
        p.awaitExit(Timeouts.EXIT);
        TreeFixtures.awaitAllGone(pids, Duration.ofSeconds(30));
        assertEquals(names, shmNames(prefix), "checkpoint leaves /dev/shm as it was");

        Instant t1 = Instant.now();
        Proc rest = Cryo.startRestart(cleanup, image, pids.getFirst());
        subreaper.foreign(cleanup, pids.subList(1, pids.size()), t1, "restored posix_shm waiter and child");
        command(rest, "check", "after restart: the same objects with the same contents, names and values");
        assertSameObjects(objects, pids, "after restart");
        assertEquals(names, shmNames(prefix), "no unlinked name comes back");
        command(rest, "go", "after restart: the waiter blocked in sem_wait(unlinked named semaphore) and its child blocked in "
                + "pthread_mutex_lock(process-shared mutex) wake when posted and unlocked, and post back");
        rest.send("quit");
        assertEquals("BYE", rest.await("BYE", l -> l.equals("BYE")));
        assertEquals(0, rest.awaitExit(Timeouts.EXIT));
        assertEquals(List.of(), shmNames(prefix), "the fixture unlinked its names");
    }
}
