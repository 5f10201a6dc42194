package cryo.netlock;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;

/**
 * One empty file per lock table that cryo made and that may still need a sweep (/run/cryo/netlock/TABLE,
 * directory 0700): made before the table, removed once the table is gone or held. A cryo looks at this
 * directory, not at nft, to know whether a sweep is due, so a command that finds no marker of a dead owner
 * spawns no nft at all. A marker whose table does not exist (a cryo killed between the two) is removed by the
 * sweep like the others.
 */
final class LockMarkers {
    static final Path DIR = Path.of("/run/cryo/netlock");

    private LockMarkers() {
    }

    static void create(String table) throws IOException {
        Files.createDirectories(DIR, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Files.newByteChannel(DIR.resolve(table), Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE)).close();
    }

    /** Quietly: a marker left behind costs one sweep, no more. */
    static void remove(String table) {
        try {
            Files.deleteIfExists(DIR.resolve(table));
        } catch (IOException e) {
            // left to the next sweep
        }
    }

    /** The tables of markers whose owner is gone (none when the directory does not exist). */
    static List<String> ofDeadOwners() throws IOException {
        List<String> dead = new ArrayList<>();
        try (DirectoryStream<Path> dir = Files.newDirectoryStream(DIR)) {
            for (Path p : dir) {
                String table = p.getFileName().toString();
                Matcher name = LockTables.NAME.matcher(table);
                if (name.matches() && !LockTables.ownerAlive(Long.parseLong(name.group(1)), Long.parseLong(name.group(2)))) dead.add(table);
            }
        } catch (NoSuchFileException e) {
            return List.of();
        }
        return dead;
    }
}
