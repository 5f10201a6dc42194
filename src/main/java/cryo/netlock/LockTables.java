package cryo.netlock;

import cryo.task.ProcStat;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

/**
 * Names and states of lock tables. A table is named for the cryo process that made it,
 * cryo-lock-PID-STARTTIME-N (STARTTIME: field 22 of /proc/PID/stat, so a recycled pid is another owner; N
 * counts the locks of that process), and is "checkpointing" until a chain named held is added to it once
 * its image is committed. A checkpointing table whose owner is gone belongs to a cryo that was killed before
 * it could lift it, and its tree runs on: its janitor removes it at once, or else any later cryo checkpoint or
 * restart (removeLeftover from cryo.janitor.Sweep). A held table waits for the restart of its image, which
 * removes it, killed or not.
 */
final class LockTables {
    static final Pattern NAME = Pattern.compile("cryo-lock-([0-9]{1,10})-([0-9]{1,20})-([0-9]{1,10})");
    static final int NAME_MAX = 64;
    private static final Pattern HELD = Pattern.compile("(?m)^\\s*chain " + LockRules.HELD + " \\{");
    private static final AtomicInteger SERIAL = new AtomicInteger();

    private LockTables() {
    }

    /** A new name owned by this process. */
    static String newName() throws IOException {
        long pid = ProcessHandle.current().pid();
        return "cryo-lock-" + pid + "-" + startTime(pid) + "-" + SERIAL.getAndIncrement();
    }

    /** Field 22 of /proc/PID/stat, or -1 when the process is gone. */
    private static long startTime(long pid) throws IOException {
        ProcStat s = ProcStat.read((int) pid);
        return s == null ? -1 : s.field(22);
    }

    /** Removes a table a dead cryo journaled: a checkpoint's only when not held (its image needs it), an image's held one too. */
    static void removeLeftover(Nft nft, String table, boolean evenHeld) throws IOException {
        if (!evenHeld) {
            String rules;
            try {
                rules = nft.run("list table " + table, null, "list", "table", "inet", table);
            } catch (Nft.Failed e) {
                if (e.noSuchObject()) return;   // never made, or swept already
                throw e;
            }
            if (HELD.matcher(rules).find()) return;
        }
        delete(nft, table);
    }

    static boolean ownerAlive(long pid, long start) throws IOException {
        return pid > 0 && pid <= Integer.MAX_VALUE && startTime(pid) == start;
    }

    /** Deletes the table (and its marker); false if it was not there. */
    static boolean delete(Nft nft, String table) throws IOException {
        try {
            nft.run("delete table " + table, null, "delete", "table", "inet", table);
            LockMarkers.remove(table);
            return true;
        } catch (Nft.Failed e) {
            if (!e.noSuchObject()) throw e;
            LockMarkers.remove(table);
            return false;
        }
    }

    /** A held table is never swept: its marker goes. */
    static void markHeld(Nft nft, String table) throws IOException {
        nft.run("add chain " + table + " " + LockRules.HELD, null, "add", "chain", "inet", table, LockRules.HELD);
        LockMarkers.remove(table);
    }
}
