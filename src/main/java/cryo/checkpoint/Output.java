package cryo.checkpoint;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Where an image goes: a regular file (new, or replaced whole) or stdout ({@code -o -}). A file is written
 * without a name (O_TMPFILE, mode 0600: it holds process memory) in the destination's directory, fsync'ed and
 * only then linked under its name, so no half image ever has the final name and a cryo killed before that
 * leaves no file at all. An existing image is replaced by linking under a temporary name and renaming over it
 * (a kill between those two calls leaves the temporary name). On a file system without O_TMPFILE the whole
 * image is written under the temporary name beside it, which a killed cryo leaves behind. {@link #prepare} runs before the tree is frozen: what is at the path and
 * whether the temporary file can be created are known before anything is touched. Every error names the
 * path the user gave, never the temporary one. Stdout: see {@link Stdout}.
 */
public sealed interface Output {
    /** Checks the destination and creates what the image will be written to; before the freeze. */
    void prepare() throws OutputException;

    WritableByteChannel open() throws IOException;

    void commit() throws OutputException;

    void abort();

    /** A regular file, into which page data may be written by position from several threads. */
    boolean seekable();

    /**
     * True if the image would replace this very file (dev, ino): one the tree has open or mapped must not be
     * overwritten by its own image.
     */
    default boolean replaces(long dev, long ino) {
        return false;
    }

    /** The destination as the user gave it. */
    String name();

    /** The failure of a write into the channel, told with the destination's name. */
    OutputException failed(IOException e);

    /** Removes a temporary file that was not committed (idempotent). */
    default void abortUnlessCommitted() {
        abort();
    }

    /** The destination of -o: "-" for stdout, else a path (not empty). */
    static Output of(String path) {
        return of(path, DEFAULT_STALL_SECONDS);
    }

    /** How long a reader of the image on stdout may take nothing before the checkpoint fails (--output-timeout). */
    long DEFAULT_STALL_SECONDS = 30;

    /** stallSeconds: how long a pipe on stdout may stay full (--output-timeout). */
    static Output of(String path, long stallSeconds) {
        if (path.isEmpty()) throw new IllegalArgumentException("-o needs a file name, or - for stdout");
        return path.equals("-") ? new Stdout(stallSeconds * 1000) : new ImageFile(Path.of(path));
    }

    /** The image could not be written where the user asked; the message names the path given. */
    final class OutputException extends IOException {
        OutputException(String message) {
            super(message);
        }
    }

    final class ImageFile implements Output {
        private final Path given, target, temp;
        private FileChannel ch;
        /** cryo's descriptor of the nameless O_TMPFILE file, or -1 (written under the temporary name instead). */
        private int unnamed = -1;
        private boolean committed;
        /** dev and ino of the regular file at the path, if there is one: the image replaces it. */
        private long[] existing;

        ImageFile(Path given) {
            this.given = given;
            this.target = given.toAbsolutePath();
            this.temp = target.resolveSibling("." + target.getFileName() + ".cryo-tmp-" + ProcessHandle.current().pid());
        }

        public boolean seekable() {
            return true;
        }

        public String name() {
            return given.toString();
        }

        public boolean replaces(long dev, long ino) {
            return existing != null && existing[0] == dev && existing[1] == ino;
        }

        public void prepare() throws OutputException {
            try {
                BasicFileAttributes a = Files.readAttributes(target, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                if (!a.isRegularFile()) {
                    throw new OutputException("-o " + given + " is " + kind(target, a)
                            + ": an image is written only to a regular file, or to stdout with -o -");
                }
                existing = new long[]{(Long) Files.getAttribute(target, "unix:dev", LinkOption.NOFOLLOW_LINKS),
                        (Long) Files.getAttribute(target, "unix:ino", LinkOption.NOFOLLOW_LINKS)};
            } catch (NoSuchFileException e) {
                // a new file
            } catch (OutputException e) {
                throw e;
            } catch (IOException e) {
                throw failed(e);
            }
            Path dir = target.getParent();
            if (!Files.isDirectory(dir)) {
                throw new OutputException("cannot write the image to " + given + ": " + (Files.exists(dir) ? dir + " is not a directory" : "directory " + dir + " does not exist"));
            }
            try {
                unnamed = cryo.sys.FileIo.create(dir.toString(), cryo.sys.FileIo.O_TMPFILE | 01 /* O_WRONLY */, 0600);
                ch = FileChannel.open(Path.of("/proc/self/fd/" + unnamed), StandardOpenOption.WRITE);
                return;
            } catch (cryo.sys.SysException e) {
                // EOPNOTSUPP, EISDIR: this file system has no O_TMPFILE; any other failure shows again below
            } catch (IOException e) {
                closeUnnamed();
            }
            try {
                Files.deleteIfExists(temp);
                ch = FileChannel.open(temp, java.util.Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            } catch (IOException e) {
                throw failed(e);
            }
        }

        public WritableByteChannel open() throws IOException {
            if (ch == null) prepare();
            return ch;
        }

        public OutputException failed(IOException e) {
            String why = switch (e) {
                case AccessDeniedException x -> "Permission denied";
                case NoSuchFileException x -> "cannot create a file in " + target.getParent();
                case FileSystemException fs when fs.getReason() != null -> fs.getReason();
                case FileSystemException fs -> fs.getClass().getSimpleName().replace("Exception", "");
                default -> e.getMessage();
            };
            return new OutputException("cannot write the image to " + given + ": " + why);
        }

        public void commit() throws OutputException {
            try {
                ch.force(true);
                ch.close();
                if (unnamed >= 0) {
                    try {
                        cryo.sys.FileIo.linkOpen(unnamed, target.toString());
                    } catch (cryo.sys.SysException e) {
                        if (e.errno() != cryo.sys.Errno.EEXIST) throw new FileSystemException(target.toString(), null, e.getMessage());
                        Files.deleteIfExists(temp);
                        cryo.sys.FileIo.linkOpen(unnamed, temp.toString());
                        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                    }
                    closeUnnamed();
                } else {
                    Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                }
                committed = true;
                ch = null;
            } catch (cryo.sys.SysException e) {
                throw failed(new FileSystemException(target.toString(), null, e.getMessage()));
            } catch (IOException e) {
                throw failed(e);
            }
        }

        private void closeUnnamed() {
            if (unnamed >= 0) cryo.sys.Fd.close(unnamed);
            unnamed = -1;
        }

        public void abort() {
            if (committed) return;
            closeUnnamed();
            try {
                if (ch != null) ch.close();
            } catch (IOException ignored) {
                // closing a file we are about to delete
            }
            ch = null;
            try {
                Files.deleteIfExists(temp);
            } catch (IOException ignored) {
                // best effort: the temporary name is never taken for an image
            }
        }

        private static String kind(Path p, BasicFileAttributes a) {
            if (a.isDirectory()) return "a directory";
            if (a.isSymbolicLink()) return "a symbolic link";
            try {
                int mode = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
                return switch (mode & 0170000) {
                    case 0020000 -> "a character device";
                    case 0060000 -> "a block device";
                    case 0010000 -> "a FIFO";
                    case 0140000 -> "a socket";
                    default -> "not a regular file";
                };
            } catch (IOException | UnsupportedOperationException e) {
                return "not a regular file";
            }
        }
    }

    /**
     * Stdout: a pipe or FIFO gets a PipeStream (a reader that takes nothing for stallMs is an error, and the
     * image counts as written only once the reader has taken all of it); a regular file the shell created is
     * made 0600 (fchmod) before anything is written into it; anything else is written as it is.
     */
    final class Stdout implements Output {
        private final long stallMs;
        private WritableByteChannel ch;
        private PipeStream pipe;

        Stdout(long stallMs) {
            this.stallMs = stallMs;
        }

        public String name() {
            return "-";
        }

        public boolean seekable() {
            return false;
        }

        public void prepare() throws OutputException {
            try {
                switch (cryo.sys.StreamFd.fileType(1, "stdout")) {
                    case cryo.sys.StreamFd.S_IFIFO -> pipe = PipeStream.open(stallMs);
                    case cryo.sys.StreamFd.S_IFREG -> cryo.sys.FileIo.fchmod(1, 0600, "stdout");
                    default -> {
                    }
                }
            } catch (cryo.sys.SysException e) {
                throw new OutputException("cannot write the image to stdout: " + e.getMessage());
            }
        }

        public WritableByteChannel open() {
            if (ch == null) ch = pipe != null ? pipe : new FileOutputStream(FileDescriptor.out).getChannel();
            return ch;
        }

        public OutputException failed(IOException e) {
            return new OutputException("cannot write the image to stdout: " + e.getMessage());
        }

        public void commit() throws OutputException {
            // a file on stdout is not synced: the shell's redirection chose it, as for any program's output
            if (pipe == null) return;
            try {
                pipe.drain();
            } catch (IOException e) {
                throw failed(e);
            }
        }

        public void abort() {
            if (pipe != null) pipe.close();
        }
    }
}
