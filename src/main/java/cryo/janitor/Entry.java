package cryo.janitor;

import java.io.IOException;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;

/**
 * One thing a cryo command is about to create outside the tasks it traces, as a line of its journal: named
 * precisely enough that a sweep never takes another's object for it (Sweep says how each is recognised).
 */
public sealed interface Entry {
    /** A process of the restored tree (host pid, starttime: field 22 of /proc/PID/stat), killed unless the restart committed. */
    record Task(int pid, long start) implements Entry {
    }

    /**
     * A SysV IPC object of kind shm, sem or msg about to be made with this id (restart sets *_next_id) in the IPC
     * namespace of inode ns; since (epoch seconds) is for the reader only: the clock may step.
     */
    record IpcObject(String kind, int id, int key, long ns, long since) implements Entry {
    }

    /**
     * A file cryo is about to make under a name at or after since (epoch nanoseconds) and unlinks again soon: a
     * ghost file, an unlinked FIFO, the file of a unix socket that was gone at checkpoint.
     */
    record GhostName(String path, long since) implements Entry {
        public static GhostName now(String path) {
            java.time.Instant t = java.time.Instant.now();
            return new GhostName(path, t.getEpochSecond() * 1_000_000_000L + t.getNano());
        }
    }

    /** The file a GhostName announced, made: device and inode, what a sweep removes it by (no clock involved). */
    record GhostFile(String path, long dev, long ino) implements Entry {
        static GhostFile of(String path) throws IOException {
            java.util.Map<String, Object> a = java.nio.file.Files.readAttributes(java.nio.file.Path.of(path), "unix:dev,ino",
                    java.nio.file.LinkOption.NOFOLLOW_LINKS);
            return new GhostFile(path, (Long) a.get("dev"), (Long) a.get("ino"));
        }
    }

    /** A network lock table of a checkpoint: removed unless marked held (its image committed). */
    record LockTable(String table) implements Entry {
    }

    /** The held network lock of the image being restarted: lifted however the restart ends. */
    record HeldLock(String table) implements Entry {
    }

    default String line() {
        return switch (this) {
            case Task t -> "task " + t.pid + " " + t.start;
            case IpcObject o -> "ipc " + o.kind + " " + o.id + " " + o.key + " " + o.ns + " " + o.since;
            case GhostName g -> "ghost " + g.since + " " + URLEncoder.encode(g.path, StandardCharsets.UTF_8);
            case GhostFile f -> "ghost-file " + f.dev + " " + f.ino + " " + URLEncoder.encode(f.path, StandardCharsets.UTF_8);
            case LockTable l -> "lock " + l.table;
            case HeldLock h -> "held-lock " + h.table;
        };
    }

    /** The entry of a journal line, or null for a line that is not one (a line cut by a kill, or "janitor"). */
    static Entry parse(String line) {
        String[] w = line.split(" ");
        try {
            return switch (w[0]) {
                case "task" -> w.length == 3 ? new Task(Integer.parseInt(w[1]), Long.parseLong(w[2])) : null;
                case "ipc" -> w.length == 6 && w[1].matches("shm|sem|msg") ? new IpcObject(w[1], Integer.parseInt(w[2]),
                        Integer.parseInt(w[3]), Long.parseLong(w[4]), Long.parseLong(w[5])) : null;
                case "ghost" -> w.length == 3 ? new GhostName(URLDecoder.decode(w[2], StandardCharsets.UTF_8), Long.parseLong(w[1])) : null;
                case "ghost-file" -> w.length == 4 ? new GhostFile(URLDecoder.decode(w[3], StandardCharsets.UTF_8), Long.parseLong(w[1]), Long.parseLong(w[2])) : null;
                case "lock" -> w.length == 2 ? new LockTable(w[1]) : null;
                case "held-lock" -> w.length == 2 ? new HeldLock(w[1]) : null;
                default -> null;
            };
        } catch (IllegalArgumentException e) {
            return null;
        }
    }
}
