package cryo.sys;

import java.io.FileInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;

/**
 * Reads a /proc or /proc/sys file with plain sequential read(2)s. Files.readString() is wrong there: it
 * sizes its reads by st_size (0 for these files) and /proc/sys files answer a short first read with a
 * truncated value ("3" for a pid_max of 32768).
 */
public final class ProcFile {
    private ProcFile() {
    }

    public static byte[] bytes(String path) throws IOException {
        try (FileInputStream in = new FileInputStream(path)) {
            return in.readAllBytes();
        } catch (java.io.FileNotFoundException e) {
            throw new NoSuchFileException(path);
        }
    }

    public static String read(String path) throws IOException {
        return new String(bytes(path), StandardCharsets.UTF_8);
    }
}
