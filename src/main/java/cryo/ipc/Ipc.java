package cryo.ipc;

import cryo.image.DataCheck;
import cryo.image.ImageException;
import cryo.sys.Errno;
import cryo.sys.Proc;
import cryo.sys.ProcFile;
import cryo.sys.SysException;
import cryo.sys.SysvIpc;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * SysV IPC objects, both halves (the kernel series' ipc/checkpoint_msg.c, _sem.c, _shm.c). Everything here
 * acts on the IPC namespace of the calling thread: callers run it through IpcNamespace.run().
 * Checkpoint reads messages without removing them (msgrcv MSG_COPY by index), semaphore values with
 * GETALL, and the resident pages of a segment attached read-only in cryo (mincore). Restart asks for each
 * object's old id by writing /proc/sys/kernel/{msg,sem,shm}_next_id right before the IPC_CREAT|IPC_EXCL get.
 */
public final class Ipc {
    private static final long SHM_CHUNK = 8L << 20;

    private Ipc() {
    }

    /**
     * What a checkpoint took: the records, and cryo's read-only attachments their pages point into; the
     * namespace's limits when it is the tree's own (null otherwise).
     */
    public record Dump(IpcLimitsRecord limits, List<IpcRecord> objects, List<ShmPagesRecord> pages, List<Long> attachments) implements AutoCloseable {
        @Override
        public void close() {
            for (long a : attachments) SysvIpc.shmdt(a);
        }
    }

    /** Which objects travel: all, or those whose id (any kind, or "msg:ID", "sem:ID", "shm:ID") is listed. */
    public record Selection(boolean all, Set<String> ids) {
        public static final Selection NONE = new Selection(false, Set.of());

        boolean takesListed(IpcRecord.Kind kind, List<Integer> existing, String want) {
            for (int id : existing) {
                if (want.equals(Integer.toString(id)) || want.equals(kind.name().toLowerCase() + ":" + id)) return true;
            }
            return false;
        }

        boolean takes(IpcRecord.Kind kind, int id) {
            return all || ids.contains(Integer.toString(id)) || ids.contains(kind.name().toLowerCase() + ":" + id);
        }
    }

    // ---------------------------------------------------------------- checkpoint

    public static Dump checkpoint(Selection sel, Set<Integer> attachedShm, boolean ownNamespace) throws SysException, IOException, cryo.image.Refusal {
        for (String want : sel.ids()) {
            boolean found = false;
            for (IpcRecord.Kind k : IpcRecord.Kind.values()) found |= sel.takesListed(k, ids(k.name().toLowerCase()), want);
            if (!found) throw new cryo.image.Refusal("--ipc names " + want + ", which is no SysV IPC object of the tree's namespace");
        }
        IpcLimitsRecord limits = ownNamespace ? IpcLimits.checkpoint(ids("shm")) : null;
        List<IpcRecord> objects = new ArrayList<>();
        List<ShmPagesRecord> pages = new ArrayList<>();
        List<Long> attachments = new ArrayList<>();
        int msgmax = Integer.parseInt(ProcFile.read("/proc/sys/kernel/msgmax").trim());
        for (int id : ids("msg")) {
            if (!sel.takes(IpcRecord.Kind.MSG, id)) continue;
            SysvIpc.MsqStat st = SysvIpc.msgStat(id);
            List<IpcRecord.Message> messages = new ArrayList<>();
            for (int i = 0; i < st.qnum(); i++) {
                Object[] m = SysvIpc.msgcopy(id, i, msgmax);
                messages.add(new IpcRecord.Message((long) m[0], (byte[]) m[1]));
            }
            SysvIpc.Perm p = st.perm();
            objects.add(new IpcRecord(IpcRecord.Kind.MSG, id, p.key(), p.uid(), p.gid(), p.cuid(), p.cgid(), p.mode() & 0777,
                    st.cbytes(), new long[]{st.stime(), st.rtime(), st.ctime()}, new int[]{st.lspid(), st.lrpid()}, messages,
                    new short[0]));
            objects.set(objects.size() - 1, withQbytes(objects.getLast(), st.qbytes()));
        }
        for (int id : ids("sem")) {
            if (!sel.takes(IpcRecord.Kind.SEM, id)) continue;
            SysvIpc.SemStat st = SysvIpc.semStat(id);
            SysvIpc.Perm p = st.perm();
            objects.add(new IpcRecord(IpcRecord.Kind.SEM, id, p.key(), p.uid(), p.gid(), p.cuid(), p.cgid(), p.mode() & 0777,
                    st.nsems(), new long[]{st.otime(), st.ctime()}, new int[0], List.of(), SysvIpc.semGetAll(id, st.nsems())));
        }
        for (int id : ids("shm")) {
            if (!sel.takes(IpcRecord.Kind.SHM, id) && !attachedShm.contains(id)) continue;
            SysvIpc.ShmStat st = SysvIpc.shmStat(id);
            SysvIpc.Perm p = st.perm();
            objects.add(new IpcRecord(IpcRecord.Kind.SHM, id, p.key(), p.uid(), p.gid(), p.cuid(), p.cgid(),
                    p.mode() & (0777 | IpcRecord.SHM_DEST), st.size(), new long[]{st.atime(), st.dtime(), st.ctime()},
                    new int[]{st.cpid(), st.lpid()}, List.of(), new short[0]));
            long addr = SysvIpc.shmat(id, SysvIpc.SHM_RDONLY);
            attachments.add(addr);
            long size = (st.size() + 4095) & ~4095L;
            MemorySegment seg = MemorySegment.ofAddress(addr).reinterpret(size);
            byte[] resident = Proc.mincore(addr, size);
            for (int i = 0; i < resident.length; ) {
                if ((resident[i] & 1) == 0) {
                    i++;
                    continue;
                }
                int j = i;
                while (j < resident.length && (resident[j] & 1) != 0 && (long) (j - i) * 4096 < SHM_CHUNK) j++;
                pages.add(ShmPagesRecord.of(id, (long) i * 4096, seg.asSlice((long) i * 4096, (long) (j - i) * 4096)));
                i = j;
            }
        }
        return new Dump(limits, objects, pages, attachments);
    }

    /** The queue's byte limit travels in the single value slot of a MSG record. */
    private static IpcRecord withQbytes(IpcRecord r, long qbytes) {
        return new IpcRecord(r.kind(), r.id(), r.key(), r.uid(), r.gid(), r.cuid(), r.cgid(), r.mode(), r.size(),
                new long[]{r.times()[0], r.times()[1], r.times()[2], qbytes}, r.pids(), r.messages(), r.values());
    }

    /** The ids listed in /proc/sysvipc/KIND (second column) of the calling thread's namespace. */
    private static List<Integer> ids(String kind) throws IOException {
        List<Integer> out = new ArrayList<>();
        String[] lines = ProcFile.read("/proc/sysvipc/" + kind).split("\n");
        for (int i = 1; i < lines.length; i++) {
            String[] f = lines[i].trim().split("\\s+");
            if (f.length > 1) out.add(Integer.parseInt(f[1]));
        }
        return out;
    }

    // ---------------------------------------------------------------- restore

    /**
     * Refuses, before anything is created, objects whose id is taken here or that this namespace's limits
     * cannot hold (msgmax, shmmax). In a fresh namespace limits are raised instead.
     */
    public static void check(Collection<IpcRecord> objects, boolean freshNamespace) throws ImageException, IOException {
        long msgmax = Long.parseLong(ProcFile.read("/proc/sys/kernel/msgmax").trim());
        long msgmnb = Long.parseLong(ProcFile.read("/proc/sys/kernel/msgmnb").trim());
        boolean sysResource = capSysResource();
        long shmmax = Long.parseUnsignedLong(ProcFile.read("/proc/sys/kernel/shmmax").trim());
        if (shmmax < 0) shmmax = Long.MAX_VALUE;
        for (IpcRecord r : objects) {
            if (r.kind() == IpcRecord.Kind.MSG && !freshNamespace) {
                for (IpcRecord.Message m : r.messages()) {
                    if (m.body().length > msgmax) throw new ImageException("record IPC " + r.name() + ": a message of " + m.body().length + " bytes is above msgmax " + msgmax);
                }
            }
            if (r.kind() == IpcRecord.Kind.MSG && !freshNamespace && r.qbytes() > msgmnb && !sysResource) {
                throw new ImageException("record IPC " + r.name() + ": its byte limit " + r.qbytes() + " is above msgmnb " + msgmnb + " and cryo lacks CAP_SYS_RESOURCE to set it");
            }
            if (r.kind() == IpcRecord.Kind.SHM && r.size() > shmmax) throw new ImageException("record IPC " + r.name() + ": size " + r.size() + " is above shmmax " + shmmax);
            if (!freshNamespace && exists(r)) {
                throw new ImageException(r.name() + " is in use on this host (restart with --new-ipc-namespace)");
            }
        }
    }

    private static boolean capSysResource() throws IOException {
        for (String line : ProcFile.read("/proc/self/status").split("\n")) {
            if (line.startsWith("CapEff:")) return (Long.parseUnsignedLong(line.substring(7).trim(), 16) & (1L << 24)) != 0;
        }
        return false;
    }

    private static boolean exists(IpcRecord r) {
        try {
            switch (r.kind()) {
                case MSG -> SysvIpc.msgStat(r.id());
                case SEM -> SysvIpc.semStat(r.id());
                case SHM -> SysvIpc.shmStat(r.id());
            }
            return true;
        } catch (SysException e) {
            return false;     // EINVAL or EIDRM: no such id
        }
    }

    /**
     * Creates every object with its id and contents; returns those created so far in `created` (for removal
     * when the restart fails). Segments marked destroyed stay until destroyMarked() after the tasks attached.
     */
    public static void restore(IpcLimitsRecord limits, Collection<IpcRecord> objects, Map<Integer, List<ShmPagesRecord>> pages,
                               boolean freshNamespace, List<IpcRecord> created, DataCheck data) throws SysException, IOException, ImageException {
        // The image's limits before any object exists (a queue takes msgmnb as its size at creation).
        if (limits != null) IpcLimits.prepare(limits, objects);
        else if (freshNamespace) raiseMsgmax(objects);
        long ns = freshNamespace ? 0 : cryo.janitor.Sweep.ipcNamespace();
        for (IpcRecord r : objects) {
            if (r.key() != SysvIpc.IPC_PRIVATE && keyTaken(r)) {
                throw new ImageException(r.name() + ": key 0x" + Integer.toHexString(r.key()) + " is in use here (restart with --new-ipc-namespace)");
            }
            String kind = r.kind().name().toLowerCase();
            // journaled before it exists: a cryo killed from here on has its janitor remove it (cryo.janitor)
            if (!freshNamespace) cryo.janitor.Journal.add(new cryo.janitor.Entry.IpcObject(kind, r.id(), r.key(), ns, java.time.Instant.now().getEpochSecond()));
            Path nextId = Path.of("/proc/sys/kernel/" + kind + "_next_id");
            Files.writeString(nextId, Integer.toString(r.id()));
            int flags = SysvIpc.IPC_CREAT | SysvIpc.IPC_EXCL | (r.mode() & 0777);
            int id;
            try {
                id = create(r.kind(), r.key(), r.size(), r.values().length, flags);
            } catch (SysException e) {
                // *_next_id stays set until a create uses it (the kernel takes no -1): spend it on a
                // throwaway object, or the next object anyone makes here would silently get this id.
                try {
                    int throwaway = create(r.kind(), SysvIpc.IPC_PRIVATE, 4096, 1, 0600);
                    remove(List.of(new IpcRecord(r.kind(), throwaway, 0, 0, 0, 0, 0, 0, 0, new long[0], new int[0], List.of(), new short[0])));
                } catch (SysException ignored) {
                    // nothing more to do
                }
                if (e.errno() == Errno.EEXIST) throw new ImageException(r.name() + ": key 0x" + Integer.toHexString(r.key()) + " is in use here (restart with --new-ipc-namespace)");
                throw e;
            }
            IpcRecord made = new IpcRecord(r.kind(), id, r.key(), 0, 0, 0, 0, 0, 0, new long[0], new int[0], List.of(), new short[0]);
            created.add(made);
            cryo.sys.KillPoint.reach("restart-ipc-object");
            if (id != r.id()) throw new ImageException(r.name() + ": the kernel gave id " + id + " instead");
            SysvIpc.Perm perm = new SysvIpc.Perm(r.key(), r.uid(), r.gid(), r.cuid(), r.cgid(), r.mode() & 0777);
            switch (r.kind()) {
                case MSG -> {
                    SysvIpc.msgSet(id, perm, r.qbytes());
                    for (IpcRecord.Message m : r.messages()) SysvIpc.msgsnd(id, m.type(), m.body());
                }
                case SEM -> {
                    SysvIpc.semSetAll(id, r.values());
                    SysvIpc.semSet(id, perm);
                }
                case SHM -> {
                    long addr = SysvIpc.shmat(id, 0);
                    try {
                        MemorySegment seg = MemorySegment.ofAddress(addr).reinterpret((r.size() + 4095) & ~4095L);
                        for (ShmPagesRecord p : pages.getOrDefault(id, List.of())) {
                            data.verify(p);
                            MemorySegment.copy(p.data(), 0, seg, p.offset(), p.data().byteSize());
                        }
                    } finally {
                        SysvIpc.shmdt(addr);
                    }
                    SysvIpc.shmSet(id, perm);
                }
            }
        }
    }

    private static int create(IpcRecord.Kind kind, int key, long size, int nsems, int flags) throws SysException {
        return switch (kind) {
            case MSG -> SysvIpc.msgget(key, flags);
            case SEM -> SysvIpc.semget(key, nsems, flags);
            case SHM -> SysvIpc.shmget(key, size, flags);
        };
    }

    /** True when an object of r's kind already has r's key here (a lookup that creates nothing). */
    private static boolean keyTaken(IpcRecord r) {
        try {
            create(r.kind(), r.key(), 0, 0, 0);
            return true;
        } catch (SysException e) {
            return e.errno() != Errno.ENOENT;
        }
    }

    /** A fresh namespace starts with default limits: raise msgmax and msgmnb to what the image needs. */
    private static void raiseMsgmax(Collection<IpcRecord> objects) throws IOException {
        long needMax = 0, needMnb = 0;
        for (IpcRecord r : objects) {
            for (IpcRecord.Message m : r.messages()) needMax = Math.max(needMax, m.body().length);
            if (r.kind() == IpcRecord.Kind.MSG) needMnb = Math.max(needMnb, r.qbytes());
        }
        raise("msgmax", needMax);
        raise("msgmnb", needMnb);
    }

    private static void raise(String sysctl, long need) throws IOException {
        Path p = Path.of("/proc/sys/kernel/" + sysctl);
        if (need > Long.parseLong(ProcFile.read(p.toString()).trim())) Files.writeString(p, Long.toString(need));
    }

    /**
     * IPC_RMID on segments that were marked destroyed while attached: they live on until the last detach.
     * Then the image's limits exactly (see IpcLimits), once every task attached its segments.
     */
    public static void destroyMarked(Collection<IpcRecord> objects, IpcLimitsRecord limits) throws SysException {
        for (IpcRecord r : objects) {
            if (r.kind() == IpcRecord.Kind.SHM && (r.mode() & IpcRecord.SHM_DEST) != 0) SysvIpc.shmrmid(r.id());
        }
        if (limits != null) IpcLimits.finish(limits);
    }

    /** Removes what a failed restart created (best effort). */
    public static void remove(List<IpcRecord> created) {
        for (IpcRecord r : created) {
            try {
                switch (r.kind()) {
                    case MSG -> SysvIpc.msgrmid(r.id());
                    case SEM -> SysvIpc.semrmid(r.id());
                    case SHM -> SysvIpc.shmrmid(r.id());
                }
            } catch (SysException ignored) {
                // already gone
            }
        }
    }
}
