package cryo.janitor;

import cryo.sys.SysException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;

/**
 * What this cryo process has created outside the tasks it traces and must not outlive it unless handed over:
 * /run/cryo/journal/PID-STARTTIME (0600 in a 0700 directory), one line per entry written BEFORE the object is
 * made ("+ LINE"), and "- LINE" once it is gone or kept on purpose. While it has live entries a janitor watches
 * (Janitor): if this process dies without saying "done", the janitor sweeps the journal at once (Sweep); any
 * later cryo checkpoint or restart sweeps the journals of dead owners whose janitor is gone too. Without an
 * entry nothing is written and nothing is spawned (a restart of a lone `sleep` costs one field read).
 */
public final class Journal {
    static final Path DIR = Path.of("/run/cryo/journal");

    private static final List<Entry> LIVE = new ArrayList<>();
    private static Path file;
    private static FileChannel out;
    private static Janitor janitor;
    /** Restarts under way in this process (pin): the journal outlives its entries until they settle. */
    private static int pins;

    private Journal() {
    }

    /** Journals e before its object is made; the first entry creates the journal and starts the janitor. */
    public static synchronized void add(Entry e) throws IOException {
        if (out == null) {
            // the janitor first: killed before the journal exists, it finds nothing to undo; the other way
            // round, a journal without a janitor would wait for the next cryo
            if (janitor == null) {
                try {
                    janitor = Janitor.start(Owner.self());
                } catch (SysException x) {
                    throw new IOException("cannot start the janitor of cryo's journal: " + x.getMessage(), x);
                }
            }
            open();
            write("janitor " + janitor.owner().pid() + " " + janitor.owner().start());
        }
        write("+ " + e.line());
        LIVE.add(e);
    }

    /** Adds every entry (one write). */
    public static synchronized void addAll(Collection<? extends Entry> entries) throws IOException {
        if (entries.isEmpty()) return;
        List<Entry> rest = new ArrayList<>(entries);
        add(rest.removeFirst());
        StringBuilder sb = new StringBuilder();
        for (Entry e : rest) sb.append("+ ").append(e.line()).append('\n');
        if (!sb.isEmpty()) write(sb.substring(0, sb.length() - 1));
        LIVE.addAll(rest);
    }

    /** The object of e is gone, or is someone else's now: forgets it; the journal ends with its last entry. */
    public static synchronized void retract(Entry e) {
        if (!LIVE.remove(e)) return;
        if (LIVE.isEmpty() && pins == 0) {
            end();
        } else {
            try {
                write("- " + e.line());
            } catch (IOException x) {
                // the sweep would find an object that is not there, or not its own: it checks before it acts
            }
        }
    }

    /** Forgets every entry that which selects (a restart that committed or cleaned up after itself). */
    public static synchronized void settle(Predicate<Entry> which) {
        for (Entry e : List.copyOf(LIVE)) if (which.test(e)) retract(e);
    }

    /**
     * The restored tree's processes (host pids), journaled right before the first is let go when a kill could
     * leave part of the tree running: when it has more than one process, or objects journaled already that the
     * janitor would remove from under it. Until settleRestart, a janitor kills them all: the tree is released
     * at once or not at all.
     */
    public static synchronized void tasks(Collection<Integer> pids) throws IOException {
        if (pids.size() < 2 && LIVE.isEmpty()) return;
        List<Entry> tasks = new ArrayList<>();
        for (int pid : pids) {
            Owner o = Owner.of(pid);
            if (o != null) tasks.add(new Entry.Task(o.pid(), o.start()));
        }
        addAll(tasks);
    }

    /**
     * A restart committed (its tree released) or cleaned up after itself: its tasks, IPC objects and ghost files
     * are no longer the journal's. Lock tables stay until lifted.
     */
    public static synchronized void settleRestart() {
        if (pins > 0) pins--;
        settle(e -> !(e instanceof Entry.LockTable || e instanceof Entry.HeldLock));
        if (LIVE.isEmpty() && pins == 0 && out != null) end();
    }

    /**
     * A restart begins: its journal and janitor, once made, last until settleRestart (a restart with several
     * ghost files starts one janitor, not one per file).
     */
    public static synchronized void pin() {
        pins++;
    }

    /** A restart that failed after its tree was released (a lazy one whose pages could not come): undoes it now. */
    public static void undoRestart(java.util.function.Consumer<String> log) {
        List<Entry> mine;
        synchronized (Journal.class) {
            mine = LIVE.stream().filter(e -> !(e instanceof Entry.LockTable || e instanceof Entry.HeldLock)).toList();
        }
        try {
            Sweep.undo(mine, Owner.self(), log);
        } catch (IOException e) {
            log.accept("warning: " + e.getMessage());
        }
        settleRestart();
    }

    /**
     * A file about to be made under path for a moment (see Entry.GhostName): journaled before it exists; then
     * made(path) right after it is, and gone(path) once it is unlinked (or was never made).
     */
    public static void intent(String path) throws IOException {
        add(Entry.GhostName.now(path));
    }

    /** The file intent announced exists: its device and inode join the journal. */
    public static void made(String path) throws IOException {
        add(Entry.GhostFile.of(path));
    }

    /** The file at path is unlinked, or was never made: its entries go. */
    public static synchronized void gone(String path) {
        for (Entry e : List.copyOf(LIVE)) {
            if (e instanceof Entry.GhostName g && g.path().equals(path) || e instanceof Entry.GhostFile f && f.path().equals(path)) retract(e);
        }
    }

    /** True while this process has a journal (the janitor runs). */
    public static synchronized boolean active() {
        return !LIVE.isEmpty();
    }

    private static void open() throws IOException {
        Files.createDirectories(DIR, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        file = DIR.resolve(Owner.self().name());
        out = FileChannel.open(file, Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    }

    private static void write(String line) throws IOException {
        ByteBuffer b = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8));
        while (b.hasRemaining()) out.write(b);
    }

    /** No live entry: the journal goes, then the janitor is told and reaped. */
    private static void end() {
        try {
            out.close();
            Files.deleteIfExists(file);
        } catch (IOException e) {
            // a journal without live entries: the next sweep removes it
        }
        out = null;
        if (janitor != null) janitor.dismiss();
        janitor = null;
    }
}
