package cryo.mounts;

import cryo.files.FileData;
import cryo.image.DataCheck;
import cryo.image.ImageException;
import cryo.image.ImageWriter;
import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.FileIo;
import cryo.sys.Fs;
import cryo.sys.SysException;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The files of a tmpfs made in the container: read at checkpoint through /proc/PID/root/MOUNTPOINT (directories,
 * regular files by their data extents, symlinks, FIFOs, hard links; owners, modes, times), written back at
 * restart by cryo itself through /proc/INITPID/root/MOUNTPOINT, times last.
 */
final class TmpfsContents {
    private static final int S_IFMT = 0170000, S_IFDIR = 0040000, S_IFREG = 0100000, S_IFLNK = 0120000, S_IFIFO = 0010000;

    private TmpfsContents() {
    }

    /** An entry to write: its record, and for a FILE where its data are read from and which extents. */
    record Entry(TmpfsFileRecord record, String from, List<FileData.Extent> extents) {
    }

    /**
     * Walks the tmpfs at dir (a path through /proc/PID/root) in pre-order, numbering entries from firstIndex.
     * covered: the paths (relative to dir) that other mounts of the container are mounted on. A directory (a file)
     * another mount covers is recorded as an empty 0755 directory (0644 file) of root's with the tmpfs root's
     * times: what it holds and its own attributes are hidden under that mount (mount(2)).
     */
    static List<Entry> scan(int mount, String dir, java.util.Set<String> covered, String describe, int firstIndex, Refusal.Collector refused)
            throws IOException {
        List<Entry> out = new ArrayList<>();
        Map<Object, String> inodes = new HashMap<>();
        Path top = Path.of(dir);
        Map<String, Object> rootAttrs = Files.readAttributes(top, "unix:*", LinkOption.NOFOLLOW_LINKS);
        Object dev = rootAttrs.get("dev");
        long[] rootTimes = {nanos(rootAttrs.get("lastAccessTime")), nanos(rootAttrs.get("lastModifiedTime"))};
        Files.walkFileTree(top, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path p, BasicFileAttributes attrs) throws IOException {
                String rel = rel(top, p);
                Map<String, Object> a = Files.readAttributes(p, "unix:*", LinkOption.NOFOLLOW_LINKS);
                if (!a.get("dev").equals(dev) || covered.contains(rel)) {
                    out.add(new Entry(new TmpfsFileRecord(mount, firstIndex + out.size(), TmpfsFileRecord.Kind.DIR, 0755, 0, 0, 0, 0,
                            rootTimes[0], rootTimes[1], rel, ""), null, null));
                    return FileVisitResult.SKIP_SUBTREE;
                }
                out.add(entry(a, TmpfsFileRecord.Kind.DIR, rel, "", 0, null, null));
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path p, BasicFileAttributes attrs) throws IOException {
                String rel = rel(top, p);
                Map<String, Object> a = Files.readAttributes(p, "unix:*", LinkOption.NOFOLLOW_LINKS);
                if (!a.get("dev").equals(dev) || covered.contains(rel)) {
                    out.add(new Entry(new TmpfsFileRecord(mount, firstIndex + out.size(), TmpfsFileRecord.Kind.FILE, 0644, 0, 0, 0, 0,
                            rootTimes[0], rootTimes[1], rel, ""), null, List.of()));
                    return FileVisitResult.CONTINUE;
                }
                int mode = (int) a.get("mode");
                switch (mode & S_IFMT) {
                    case S_IFREG -> {
                        int nlink = (int) a.get("nlink");
                        String first = nlink > 1 ? inodes.putIfAbsent(a.get("ino"), rel) : null;
                        if (first != null) {
                            out.add(entry(a, TmpfsFileRecord.Kind.HARDLINK, rel, first, 0, null, null));
                            return FileVisitResult.CONTINUE;
                        }
                        long size = (long) a.get("size");
                        List<FileData.Extent> extents;
                        int fd;
                        try {
                            fd = Fd.open(p.toString(), Fd.O_RDONLY | Fd.O_NOFOLLOW | Fs.O_NOATIME);
                        } catch (SysException e) {
                            throw new IOException(e.getMessage(), e);
                        }
                        try {
                            extents = FileData.extents(fd, size, p.toString());
                        } catch (SysException e) {
                            throw new IOException(e.getMessage(), e);
                        } finally {
                            Fd.close(fd);
                        }
                        out.add(entry(a, TmpfsFileRecord.Kind.FILE, rel, "", FileData.bytes(extents), p.toString(), extents));
                    }
                    case S_IFLNK -> out.add(entry(a, TmpfsFileRecord.Kind.SYMLINK, rel, Files.readSymbolicLink(p).toString(), 0, null, null));
                    case S_IFIFO -> out.add(entry(a, TmpfsFileRecord.Kind.FIFO, rel, "", 0, null, null));
                    default -> refused.add(new Refusal("mount " + describe + ": '" + rel + "' is a " + kindName(mode) + ", which cryo does not recreate in a tmpfs"));
                }
                return FileVisitResult.CONTINUE;
            }

            private Entry entry(Map<String, Object> a, TmpfsFileRecord.Kind kind, String rel, String target, long dataBytes, String from,
                                List<FileData.Extent> extents) {
                long size = kind == TmpfsFileRecord.Kind.FILE ? (long) a.get("size") : 0;
                return new Entry(new TmpfsFileRecord(mount, firstIndex + out.size(), kind, (int) a.get("mode") & 07777, (int) a.get("uid"),
                        (int) a.get("gid"), size, dataBytes, nanos(a.get("lastAccessTime")), nanos(a.get("lastModifiedTime")), rel, target),
                        from, extents);
            }
        });
        return out;
    }

    private static String kindName(int mode) {
        return switch (mode & S_IFMT) {
            case 0140000 -> "socket";
            case 0060000 -> "block device";
            case 0020000 -> "character device";
            default -> "file of type 0" + Integer.toOctalString(mode & S_IFMT);
        };
    }

    private static String rel(Path top, Path p) {
        return top.relativize(p).toString();
    }

    private static long nanos(Object fileTime) {
        return ((FileTime) fileTime).to(TimeUnit.NANOSECONDS);
    }

    /** Writes an entry's record, then its data as TMPFS_DATA records, read in batches (never whole). */
    static void write(Entry e, ImageWriter w) throws IOException {
        w.write(e.record());
        if (e.from() == null || e.extents().isEmpty()) return;
        try {
            int fd = Fd.open(e.from(), Fd.O_RDONLY | Fd.O_NOFOLLOW | Fs.O_NOATIME);
            try {
                FileData.read(fd, e.extents(), e.from(), (off, data) -> w.write(TmpfsDataRecord.of(e.record().index(), off, data)));
            } finally {
                Fd.close(fd);
            }
        } catch (SysException ex) {
            throw new IOException("tmpfs file " + e.from() + ": " + ex.getMessage(), ex);
        }
    }

    /**
     * Recreates the entries of a tmpfs at dir (a path through /proc/INITPID/root, the fresh mount's root):
     * every entry with its data, owner and mode, then the times of all, children before their directories.
     */
    static void refill(MountsImage image, MountRecord m, String dir, DataCheck check) throws SysException, ImageException {
        List<TmpfsFileRecord> entries = image.files(m.id());
        for (TmpfsFileRecord f : entries) {
            String p = MountPaths.join(dir, f.path());
            switch (f.kind()) {
                case DIR -> {
                    if (!f.path().isEmpty()) Fs.mkdir(p, 0700);
                }
                case FILE -> {
                    int fd = FileIo.create(p, Fd.O_WRONLY | Fd.O_CREAT | Fd.O_EXCL | Fd.O_NOFOLLOW, 0600);
                    try {
                        FileData.write(fd, image.data(f.index()), p, check::verify);
                        FileIo.ftruncate(fd, f.size(), p);
                    } finally {
                        Fd.close(fd);
                    }
                }
                case SYMLINK -> Fs.symlink(f.target(), p);
                case FIFO -> Fs.mkfifo(p, 0600);
                case HARDLINK -> Fs.link(MountPaths.join(dir, f.target()), p);
            }
            if (f.kind() == TmpfsFileRecord.Kind.HARDLINK) continue;
            Fs.lchown(p, f.uid(), f.gid());
            if (f.kind() != TmpfsFileRecord.Kind.SYMLINK) Fs.chmod(p, f.mode());
        }
        for (TmpfsFileRecord f : entries.reversed()) {
            if (f.kind() != TmpfsFileRecord.Kind.HARDLINK) Fs.lutimens(MountPaths.join(dir, f.path()), f.atimeNanos(), f.mtimeNanos());
        }
    }
}
