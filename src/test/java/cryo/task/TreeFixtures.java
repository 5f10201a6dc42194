package cryo.task;

import cryo.image.ImageException;
import cryo.image.ImageReader;
import cryo.image.ImageRecord;
import cryo.image.ImageWriter;
import cryo.image.Tree;
import cryo.sys.SysException;
import cryo.testing.Procfs;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.reflect.Constructor;
import java.lang.reflect.RecordComponent;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.UnaryOperator;

/**
 * Helpers for the process-tree tests: reading and rewriting images with the project's own image classes,
 * waiting for a whole tree to be gone, and reading what /proc says about threads, children and zombies.
 */
public final class TreeFixtures {
    private TreeFixtures() {}

    // ------------------------------------------------------------------ images

    /** Every record of an image (without TAIL), decoded by cryo's own reader, handed to {@code use}. */
    public static <T> T withRecords(Path image, java.util.function.Function<List<ImageRecord>, T> use) {
        try (Arena arena = Arena.ofShared()) {      // shared: the checksum of a large image runs on several threads
            return use.apply(ImageReader.read(ImageReader.map(image.toString(), arena)));
        } catch (ImageException | IOException | SysException e) {
            throw new AssertionError("cannot read image " + image + ": " + e.getMessage(), e);
        }
    }

    /** The TREE record of an image. */
    public static Tree tree(Path image) {
        return withRecords(image, rs -> {
            for (ImageRecord r : rs)
                if (r instanceof Tree t) return t;
            throw new AssertionError("image " + image + " has no TREE record");
        });
    }

    /** Every pid of the image's tree, zombies included. */
    public static List<Long> pids(Path image) {
        List<Long> l = new ArrayList<>();
        for (Tree.Process p : tree(image).processes()) l.add((long) p.pid());
        return l;
    }

    /**
     * Reads {@code in}, lets {@code change} replace its records, and writes them to {@code out} as a valid
     * stream (new TAIL with the right length and CRC32C), with cryo's own writer.
     */
    public static void rewrite(Path in, Path out, UnaryOperator<List<ImageRecord>> change) {
        try (Arena arena = Arena.ofShared()) {
            List<ImageRecord> records = new ArrayList<>(ImageReader.read(ImageReader.map(in.toString(), arena)));
            List<ImageRecord> changed = change.apply(records);
            try (FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ImageWriter w = new ImageWriter(ch);
                for (ImageRecord r : changed) w.write(r);
                w.finish();
            }
        } catch (ImageException | IOException | SysException e) {
            throw new AssertionError("cannot rewrite image " + in + ": " + e.getMessage(), e);
        }
    }

    /**
     * A copy of a record with some components replaced, by component name (so these tests keep compiling
     * when a record gains fields). Fails clearly if a name is not a component.
     */
    public static <R extends Record> R with(R r, Map<String, Object> changes) {
        RecordComponent[] cs = r.getClass().getRecordComponents();
        Object[] args = new Object[cs.length];
        Class<?>[] types = new Class<?>[cs.length];
        Map<String, Object> left = new LinkedHashMap<>(changes);
        try {
            for (int i = 0; i < cs.length; i++) {
                types[i] = cs[i].getType();
                String n = cs[i].getName();
                if (left.containsKey(n)) args[i] = left.remove(n);
                else {
                    cs[i].getAccessor().setAccessible(true);
                    args[i] = cs[i].getAccessor().invoke(r);
                }
            }
            if (!left.isEmpty())
                throw new AssertionError(r.getClass().getName() + " has no component(s) " + left.keySet()
                        + "; components: " + List.of(cs).stream().map(RecordComponent::getName).toList());
            Constructor<?> k = r.getClass().getDeclaredConstructor(types);
            k.setAccessible(true);
            @SuppressWarnings("unchecked")
            R copy = (R) k.newInstance(args);
            return copy;
        } catch (ReflectiveOperationException e) {
            throw new AssertionError("cannot copy " + r.getClass().getName() + ": " + e, e);
        }
    }

    public static <R extends Record> R with(R r, String component, Object value) {
        return with(r, Map.of(component, value));
    }

    // ------------------------------------------------------------------ processes

    /**
     * Waits until none of these pids is in use (not even as a zombie), reaping those that are zombies adopted
     * by the JVM (see {@link Subreaper}). None of them may be a JDK-started process that is still running:
     * await its exit first.
     */
    public static void awaitAllGone(Collection<Long> pids, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<Long> left = new ArrayList<>(pids);
        while (true) {
            left.removeIf(p -> {
                Subreaper.reapIfAdoptedZombie(p);
                return !Procfs.exists(p);
            });
            if (left.isEmpty()) return;
            if (System.nanoTime() > deadline) {
                StringBuilder sb = new StringBuilder("pids still in use after " + timeout.toSeconds() + " s:");
                for (long p : left)
                    sb.append(' ').append(p).append(Procfs.stat(p).map(st -> "(" + st.comm() + " state " + st.state()
                            + " ppid " + st.ppid() + ")").orElse("(gone)"));
                throw new AssertionError(sb.toString());
            }
            Procfs.sleep(Duration.ofMillis(10));
        }
    }

    /** Waits until none of these pids is a live process (gone or a zombie). */
    public static void awaitNoneAlive(Collection<Long> pids, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (long p : pids)
            while (Procfs.alive(p)) {
                if (System.nanoTime() > deadline)
                    throw new AssertionError("pid " + p + " still runs after " + timeout.toSeconds() + " s (state "
                            + Procfs.state(p) + ", ppid " + Procfs.ppid(p) + ")");
                Procfs.sleep(Duration.ofMillis(10));
            }
    }

    /** The thread ids of a process from /proc/PID/task, sorted; empty if it is gone. */
    public static TreeSet<Long> tids(long pid) {
        TreeSet<Long> s = new TreeSet<>();
        try (var ds = Files.newDirectoryStream(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path p : ds) s.add(Long.parseLong(p.getFileName().toString()));
        } catch (IOException | NumberFormatException e) {
            // gone
        }
        return s;
    }

    /** The children of a process (of all its threads), from /proc/PID/task/TID/children. */
    public static TreeSet<Long> children(long pid) {
        TreeSet<Long> s = new TreeSet<>();
        for (long t : tids(pid)) {
            try {
                String c = Procfs.read(Path.of("/proc", Long.toString(pid), "task", Long.toString(t), "children")).trim();
                if (!c.isEmpty())
                    for (String x : c.split("\\s+")) s.add(Long.parseLong(x));
            } catch (IOException e) {
                // gone
            }
        }
        return s;
    }

    /** Every descendant of a process (not itself), from /proc. */
    public static TreeSet<Long> descendants(long pid) {
        TreeSet<Long> all = new TreeSet<>();
        List<Long> todo = new ArrayList<>(List.of(pid));
        while (!todo.isEmpty()) {
            long p = todo.removeLast();
            for (long c : children(p))
                if (all.add(c)) todo.add(c);
        }
        return all;
    }

    /** Field 52 of /proc/PID/stat: the exit code (wait status) of a zombie; -1 if unreadable. */
    public static long exitCode(long pid) {
        try {
            String s = Procfs.read(Path.of("/proc", Long.toString(pid), "stat"));
            String[] f = s.substring(s.lastIndexOf(')') + 2).trim().split(" ");
            return Long.parseLong(f[52 - 3]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** Parses "key=value" tokens of one line of {@code cryo show}. */
    public static Map<String, String> fields(String line) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String tok : line.trim().split("\\s+")) {
            int eq = tok.indexOf('=');
            if (eq > 0) m.put(tok.substring(0, eq), tok.substring(eq + 1));
        }
        return m;
    }
}
