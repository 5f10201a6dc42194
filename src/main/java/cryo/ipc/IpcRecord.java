package cryo.ipc;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;

import java.util.ArrayList;
import java.util.List;

/**
 * IPC: one SysV IPC object of the tree's namespace (the kernel series' ipc/checkpoint_{msg,sem,shm}.c):
 * its id, key, owner and mode, the times and pids user space can read but not set (recorded, shown, not
 * restored), and its contents: the messages of a queue in order, the values of a semaphore set; a shared
 * memory segment's size here, its pages in SHM_PAGES records. times are stime/rtime/ctime then qbytes for
 * a queue, otime/ctime for semaphores, atime/dtime/ctime for shm; pids lspid/lrpid or cpid/lpid.
 */
public record IpcRecord(Kind kind, int id, int key, int uid, int gid, int cuid, int cgid, int mode, long size,
                        long[] times, int[] pids, List<Message> messages, short[] values) implements ImageRecord, cryo.image.HoldsPids {
    public enum Kind {MSG, SEM, SHM}

    /** One message: m_type >= 1 and its body. */
    public record Message(long type, byte[] body) {
    }

    /** SEMVMX (include/uapi/linux/sem.h). */
    public static final int SEMVMX = 32767;
    /** In a SHM record's mode: IPC_RMID was called while attached (the kernel's SHM_DEST). */
    public static final int SHM_DEST = 01000;

    /** The last sender/receiver or creator/last user pids, as the container saw them (0: a task it cannot see). */
    public IpcRecord withPids(java.util.function.IntUnaryOperator toImage) {
        return new IpcRecord(kind, id, key, uid, gid, cuid, cgid, mode, size, times,
                java.util.Arrays.stream(pids).map(toImage).toArray(), messages, values);
    }

    public RecordType type() {
        return RecordType.IPC;
    }

    public void encode(Encoder e) {
        e.u32(kind.ordinal()).u32(id).u32(key).u32(uid).u32(gid).u32(cuid).u32(cgid).u32(mode).u64(size).longs(times);
        e.u32(pids.length);
        for (int p : pids) e.u32(p);
        e.u32(messages.size());
        for (Message m : messages) e.u64(m.type).bytes(m.body);
        e.u32(values.length);
        for (short v : values) e.u32(v);
    }

    public static IpcRecord decode(Decoder d) throws ImageException {
        Kind kind = Kind.values()[d.u32("kind", 0, Kind.values().length - 1)];
        int id = d.u32("id", 0, Integer.MAX_VALUE);
        int key = d.u32("key"), uid = d.u32("uid"), gid = d.u32("gid"), cuid = d.u32("cuid"), cgid = d.u32("cgid");
        int mode = d.u32("mode", 0, 07777);
        long size = d.u64("size");
        long[] times = d.longs("times", 4);
        int np = d.u32("pids.length", 0, 2);
        int[] pids = new int[np];
        for (int i = 0; i < np; i++) pids[i] = d.u32("pids[" + i + "]");
        int nm = d.count("messages.count", 0, kind == Kind.MSG ? 1 << 24 : 0, 8 + 4);
        List<Message> messages = new ArrayList<>(nm);
        long sum = 0;
        for (int i = 0; i < nm; i++) {
            long type = d.u64("messages[" + i + "].type");
            if (type < 1) throw d.error("messages[" + i + "].type", "is " + type + ": a message type must be at least 1");
            byte[] body = d.bytes("messages[" + i + "].body", 1 << 26);
            sum += body.length;
            messages.add(new Message(type, body));
        }
        if (kind == Kind.MSG && size != sum) {
            throw d.error("size", "(q_cbytes) is " + size + " but the messages hold " + sum + " bytes");
        }
        int nv = d.count("values.length", 0, kind == Kind.SEM ? 32000 : 0, 4);
        short[] values = new short[nv];
        for (int i = 0; i < nv; i++) {
            int v = d.u32("values[" + i + "]");
            if (v < 0 || v > SEMVMX) throw d.error("values[" + i + "]", "is " + v + ", outside 0..SEMVMX (" + SEMVMX + ")");
            values[i] = (short) v;
        }
        if (kind == Kind.SEM && nv == 0) throw d.error("values", "is empty: a semaphore set has at least one");
        if (kind == Kind.SHM && (size <= 0 || size > (1L << 46))) throw d.error("size", "is " + size + ", not a shared memory size");
        return new IpcRecord(kind, id, key, uid, gid, cuid, cgid, mode, size, times, pids, messages, values);
    }

    /** A queue's byte limit (msg_qbytes), kept after its three times. */
    public long qbytes() {
        return kind == Kind.MSG && times.length > 3 ? times[3] : 16384;
    }

    public String name() {
        return switch (kind) {
            case MSG -> "message queue " + id;
            case SEM -> "semaphore set " + id;
            case SHM -> "shared memory segment " + id;
        };
    }
}
