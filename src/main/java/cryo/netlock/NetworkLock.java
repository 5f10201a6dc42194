package cryo.netlock;

import cryo.checkpoint.Checkpoint;
import cryo.checkpoint.FrozenTree;
import cryo.image.ImageWriter;
import cryo.image.Refusal;
import cryo.ns.Namespace;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * The network lock (CRIU's, with nftables): from the moment the tree is frozen until its restart has the
 * sockets back, every packet of the tree's TCP connections and listeners is dropped, so that no peer is
 * answered with a RST while no socket exists and the socket queues do not change while they are read.
 * Taken at checkpoint (kill mode only) before any socket is read; lifted by close() when the checkpoint
 * fails; held once the image is committed; lifted by the restart of the image, successful or not
 * (LockRelease, lift). A cryo killed midway leaves its table to its janitor (cryo.janitor), which lifts it
 * at once (a checkpoint's, unless held; a restart's held one too).
 */
public final class NetworkLock implements AutoCloseable {
    /** Lock table names, as checked in an image: the only thing of an image passed to nft. */
    public static final Pattern NAME = LockTables.NAME;
    public static final int NAME_MAX = LockTables.NAME_MAX;

    /** Tables this process removed already: the restart lifts once, however many paths reach it (a failed try is tried again). */
    private static final Set<String> LIFTED = ConcurrentHashMap.newKeySet();

    private final Nft nft;
    private final NetLockRecord record;
    private final Consumer<String> log;
    /** The sweep this checkpoint started, joined by close; null if none. */
    private final Thread sweep;
    private boolean held, lifted;

    private NetworkLock(Nft nft, NetLockRecord record, Consumer<String> log, Thread sweep) {
        this.nft = nft;
        this.record = record;
        this.log = log;
        this.sweep = sweep;
    }

    /**
     * Locks the TCP sockets of the frozen tree, and sweeps the tables of killed checkpoints meanwhile (on a
     * thread of its own: close waits for it). No lock (no record) with --leave-running (the sockets stay in
     * use) or when the tree has no TCP socket. A tree in a network namespace other than cryo's takes none:
     * its inet sockets are refused (FileKinds), and restart would make its namespace anew, whose peers all
     * died with the old one. Refused when the tree has TCP sockets and nft is missing.
     */
    public static NetworkLock take(FrozenTree tree, Checkpoint.Options opts) throws Refusal, IOException {
        Nft nft = Nft.find();
        Thread sweep = sweepInBackground(nft, opts.log());
        try {
            List<LockedSocket> sockets = List.of();
            List<Integer> pids = new ArrayList<>();
            for (FrozenTree.Process p : tree.live()) if (!Namespace.NET.differsFromCryo(p.pid)) pids.add(p.pid);
            if (!opts.leaveRunning() && !pids.isEmpty()) sockets = TreeSockets.tcp(pids.getFirst(), TreeSockets.inodes(pids));
            if (sockets.isEmpty()) return new NetworkLock(nft, null, opts.log(), sweep);
            if (nft == null) throw new Refusal("the network lock needs nft (Debian package nftables): the tree has TCP sockets (" + sockets.getFirst() + ")");
            NetLockRecord record = install(nft, "tree of pid " + pids.getFirst(), sockets);
            NetworkLock lock = new NetworkLock(nft, record, opts.log(), sweep);
            if ("hang-after-lock".equals(opts.fault())) hang(lock);
            return lock;
        } catch (Refusal | IOException | RuntimeException e) {
            join(sweep);
            throw e;
        }
    }

    /**
     * Test hook (CRYO_FAULT=hang-after-lock): says which table it took and waits to be killed, as a cryo killed
     * midway would be; after 10 minutes the checkpoint fails.
     */
    private static void hang(NetworkLock lock) throws IOException {
        lock.log.accept("test fault hang-after-lock: " + lock.table());
        try {
            Thread.sleep(java.time.Duration.ofMinutes(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        lock.close();
        throw new IOException("test fault hang-after-lock");
    }

    /**
     * Undoes what killed cryo commands left (cryo.janitor.Sweep: their lock tables among the rest) on a thread
     * of its own; null when no journal of a dead owner says there may be something (then nothing is spawned).
     */
    static Thread sweepInBackground(Nft nft, Consumer<String> log) {
        return cryo.janitor.Sweep.inBackground(log);
    }

    /** A lock table journaled by a cryo that died (cryo.janitor.Sweep): removed, a held one only if evenHeld. */
    public static void removeLeftover(String table, boolean evenHeld) throws IOException {
        if (!NAME.matcher(table).matches()) throw new IOException("'" + table + "' is not the name of a cryo lock table");
        Nft nft = Nft.find();
        if (nft == null) throw new IOException("nft is not installed to remove the lock table " + table);
        LockTables.removeLeftover(nft, table, evenHeld);
    }

    /** Waits for a sweep (each nft call in it has a timeout). */
    static void join(Thread sweep) {
        if (sweep == null) return;
        try {
            sweep.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Locks exactly these sockets (the checkpoint's, or a test's). */
    public static NetworkLock install(String what, List<LockedSocket> sockets, Consumer<String> log) throws IOException {
        Nft nft = Nft.find();
        if (nft == null) throw new IOException("the network lock needs nft (Debian package nftables)");
        return new NetworkLock(nft, install(nft, what, sockets), log, null);
    }

    private static NetLockRecord install(Nft nft, String what, List<LockedSocket> sockets) throws IOException {
        NetLockRecord record = new NetLockRecord(LockTables.newName(), sockets);
        LockMarkers.create(record.table());   // kept if nft fails: a timed-out nft may have made the table
        nft.script("lock of " + record.table(), LockRules.script(record.table(), "cryo network lock of the " + what, sockets));
        return record;
    }

    /** The table, or null when no lock was taken. */
    public String table() {
        return record == null ? null : record.table();
    }

    public List<LockedSocket> sockets() {
        return record == null ? List.of() : record.sockets();
    }

    /** Writes NET_LOCK (right after HEAD) when there is a lock. */
    public void write(ImageWriter w) throws IOException {
        if (record != null) w.write(record);
    }

    /**
     * The image is committed and the tasks are about to be killed: the lock now outlives this cryo, until
     * the restart of the image. Not fatal if nft fails here: the image is good, the table only stays
     * "checkpointing" (a later sweep would lift it once this cryo is gone).
     */
    public void hold() {
        if (record == null || held) return;
        held = true;
        try {
            LockTables.markHeld(nft, record.table());
        } catch (Nft.Failed e) {
            // gone already: a restart streamed from this checkpoint (-o - | cryo restart -) lifted it
            if (!e.noSuchObject()) log.accept("warning: the network lock " + record.table() + " could not be marked held: " + e.getMessage());
        } catch (IOException e) {
            log.accept("warning: the network lock " + record.table() + " could not be marked held: " + e.getMessage());
        }
    }

    /** Lifts the lock unless it is held; waits for the sweep. */
    @Override
    public void close() throws IOException {
        join(sweep);
        if (record == null || held || lifted) return;
        lifted = true;
        LockTables.delete(nft, record.table());
    }

    /**
     * Restart: lifts the lock recorded in an image (null: none), at most once per process; nothing to do when
     * its table is gone already (a restart before, or removed by hand). Call it while the restored sockets are
     * still in repair mode, before the tasks run: the first packets they send then go out.
     */
    public static void lift(NetLockRecord record, Consumer<String> log) throws IOException {
        if (record == null || LIFTED.contains(record.table())) return;
        Nft nft = Nft.find();
        if (nft == null) {
            log.accept("warning: the image names the network lock " + record.table() + ", and nft is not installed to remove it");
        } else {
            LockTables.delete(nft, record.table());
        }
        LIFTED.add(record.table());
        cryo.janitor.Journal.retract(new cryo.janitor.Entry.HeldLock(record.table()));
    }
}
