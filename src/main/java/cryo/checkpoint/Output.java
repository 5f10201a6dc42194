package cryo.checkpoint;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Where an image goes. A file is written under a temporary name (mode 0600: it holds process memory),
 * fsync'ed and renamed, so no half image ever has the final name; stdout is a plain stream.
 */
public sealed interface Output {
    WritableByteChannel open() throws IOException;

    void commit() throws IOException;

    void abort();

    /** A regular file, into which page data may be written by position from several threads. */
    boolean seekable();

    /** Removes a temporary file that was not committed (idempotent). */
    default void abortUnlessCommitted() {
        abort();
    }

    static Output of(String path) {
        return path.equals("-") ? new Stdout() : new ImageFile(Path.of(path).toAbsolutePath());
    }

    final class ImageFile implements Output {
        private final Path target, temp;
        private FileChannel ch;

        ImageFile(Path target) {
            this.target = target;
            this.temp = target.resolveSibling("." + target.getFileName() + ".cryo-tmp-" + ProcessHandle.current().pid());
        }

        public boolean seekable() {
            return true;
        }

        public WritableByteChannel open() throws IOException {
            Files.deleteIfExists(temp);
            ch = FileChannel.open(temp, java.util.Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            return ch;
        }

        public void commit() throws IOException {
            ch.force(true);
            ch.close();
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            ch = null;
        }

        public void abort() {
            if (ch == null) return;
            try {
                ch.close();
                Files.deleteIfExists(temp);
            } catch (IOException ignored) {
                // best effort: the temporary name is never taken for an image
            }
        }
    }

    final class Stdout implements Output {
        private FileChannel ch;

        public boolean seekable() {
            return false;
        }

        public WritableByteChannel open() {
            ch = new FileOutputStream(FileDescriptor.out).getChannel();
            return ch;
        }

        public void commit() {
            // a pipe has nothing to sync; the reader sees the TAIL
        }

        public void abort() {
        }
    }
}
