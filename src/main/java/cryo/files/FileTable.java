package cryo.files;

import cryo.image.Refusal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The objref table of a checkpoint (the kernel series' objhash): each file on disk and each open file
 * description is recorded once, the first time it is met, and named by its objref afterwards.
 */
public final class FileTable {
    private final Map<String, FileRecord> byInode = new HashMap<>();
    private final List<FileRecord> files = new ArrayList<>();
    /** Open file descriptions met so far, by the dev:ino of what they open. */
    private final Map<String, List<Holder>> descriptions = new HashMap<>();
    private int next = 1;

    /** An fd of a task of the tree that holds the description objref. */
    public record Holder(int pid, int fd, int objref) {
    }

    public int nextObjref() {
        return next++;
    }

    public List<FileRecord> files() {
        return files;
    }

    public FileRecord file(int objref) {
        return files.stream().filter(f -> f.objref() == objref).findFirst().orElseThrow();
    }

    /**
     * The FILE record of what link (a /proc magic link: map_files, exe, fd) points to, known by path.
     */
    public FileRecord ref(int pid, Path link, String path) throws Refusal, IOException {
        if (path.endsWith(" (deleted)")) throw new Refusal(pid, path + " is a deleted file: not supported");
        Stat st;
        try {
            st = Stat.of(link);
        } catch (NoSuchFileException e) {
            throw new Refusal(pid, path + " vanished during checkpoint");
        }
        String key = st.dev + ":" + st.ino;
        FileRecord f = byInode.get(key);
        if (f == null) {
            f = new FileRecord(nextObjref(), path, st.dev, st.ino, st.mode, st.size, st.mtimeNanos);
            byInode.put(key, f);
            files.add(f);
        }
        return f;
    }

    /**
     * The objref of the description fd of pid refers to, when an fd met before holds the same one
     * (kcmp(2) KCMP_FILE: dup'ed fds and fds inherited across fork); null for a new description.
     */
    public Integer sharedDescription(int pid, int fd, Stat st) throws IOException {
        for (Holder h : descriptions.getOrDefault(st.dev + ":" + st.ino, List.of())) {
            try {
                if (cryo.sys.Proc.sameFile(h.pid, h.fd, pid, fd)) return h.objref;
            } catch (cryo.sys.SysException e) {
                throw new IOException(e.getMessage());
            }
        }
        return null;
    }

    public void addHolder(Stat st, Holder h) {
        descriptions.computeIfAbsent(st.dev + ":" + st.ino, k -> new ArrayList<>()).add(h);
    }

    /**
     * Descriptions of the tree that a process outside it holds too (the kernel series' leak detection):
     * restoring them would split one description in two. Only descriptions named in `check` are looked at;
     * returns one message per leak naming both tasks and the fds.
     */
    public List<String> leaks(java.util.Set<Integer> tree, java.util.Set<Integer> check) throws IOException {
        List<String> out = new ArrayList<>();
        java.util.Set<Integer> reported = new java.util.HashSet<>();
        int self = cryo.sys.Proc.getpid();
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path pd : (Iterable<Path>) procs::iterator) {
                String name = pd.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit)) continue;
                int pid = Integer.parseInt(name);
                if (tree.contains(pid) || pid == self) continue;
                List<Path> fds;
                try (var s = Files.list(pd.resolve("fd"))) {
                    fds = s.toList();
                } catch (IOException e) {
                    continue;                       // gone, or a kernel thread
                }
                for (Path fdPath : fds) {
                    Stat st;
                    try {
                        st = Stat.of(fdPath);
                    } catch (IOException e) {
                        continue;
                    }
                    for (Holder h : descriptions.getOrDefault(st.dev + ":" + st.ino, List.of())) {
                        if (!check.contains(h.objref) || reported.contains(h.objref)) continue;
                        int fd = Integer.parseInt(fdPath.getFileName().toString());
                        try {
                            if (cryo.sys.Proc.sameFile(h.pid, h.fd, pid, fd)) {
                                reported.add(h.objref);
                                out.add("task " + h.pid + ": fd " + h.fd + " shares its open file with fd " + fd + " of task " + pid
                                        + ", which is outside the tree (--allow-leaks accepts this: the restored tree gets a description of its own)");
                            }
                        } catch (cryo.sys.SysException e) {
                            // the outside process went away
                        }
                    }
                }
            }
        }
        return out;
    }

    /** stat(2) of a path, following links. */
    public record Stat(long dev, long ino, int mode, long size, long mtimeNanos) {
        public static Stat of(Path p) throws IOException {
            Map<String, Object> a = Files.readAttributes(p, "unix:dev,ino,mode,size,lastModifiedTime");
            FileTime mtime = (FileTime) a.get("lastModifiedTime");
            return new Stat((Long) a.get("dev"), (Long) a.get("ino"), (Integer) a.get("mode"), (Long) a.get("size"),
                    mtime.to(TimeUnit.NANOSECONDS));
        }
    }
}
