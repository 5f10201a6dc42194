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
    private int next = 1;

    public int nextObjref() {
        return next++;
    }

    public List<FileRecord> files() {
        return files;
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
