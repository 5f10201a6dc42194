package cryo.ipc;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;

/**
 * IPC_LIMITS: the SysV IPC sysctls of an IPC namespace of the tree's own (they are per namespace,
 * ipc/ipc_sysctl.c), restored in the new one. sem holds semmsl, semmns, semopm, semmni. auto_msgmni is not
 * kept: since Linux 4.1 it reads 0 and a write has no effect.
 */
public record IpcLimitsRecord(int msgmax, int msgmnb, int msgmni, long shmmax, long shmall, int shmmni, int shmRmidForced,
                              int[] sem) implements ImageRecord {
    /** The largest ipc_mni the kernel can have (IPCMNI_EXTEND, ipc/util.h); the running kernel may allow less. */
    public static final int IPCMNI_MAX = 1 << 24;

    /** The sysctl names under /proc/sys/kernel and their values as the kernel prints them, in writing order. */
    public java.util.LinkedHashMap<String, String> values() {
        var m = new java.util.LinkedHashMap<String, String>();
        m.put("msgmax", Integer.toString(msgmax));
        m.put("msgmnb", Integer.toString(msgmnb));
        m.put("msgmni", Integer.toString(msgmni));
        m.put("shmmax", Long.toUnsignedString(shmmax));
        m.put("shmall", Long.toUnsignedString(shmall));
        m.put("shmmni", Integer.toString(shmmni));
        m.put("shm_rmid_forced", Integer.toString(shmRmidForced));
        m.put("sem", sem[0] + "\t" + sem[1] + "\t" + sem[2] + "\t" + sem[3]);
        return m;
    }

    public RecordType type() {
        return RecordType.IPC_LIMITS;
    }

    public void encode(Encoder e) {
        e.u32(msgmax).u32(msgmnb).u32(msgmni).u64(shmmax).u64(shmall).u32(shmmni).u32(shmRmidForced);
        for (int s : sem) e.u32(s);
    }

    /** Ranges are those the kernel's handlers accept (ipc/ipc_sysctl.c); semmsl, semmns, semopm take any int. */
    public static IpcLimitsRecord decode(Decoder d) throws ImageException {
        int msgmax = d.u32("msgmax", 0, Integer.MAX_VALUE);
        int msgmnb = d.u32("msgmnb", 0, Integer.MAX_VALUE);
        int msgmni = d.u32("msgmni", 0, IPCMNI_MAX);
        long shmmax = d.u64("shmmax");
        long shmall = d.u64("shmall");
        int shmmni = d.u32("shmmni", 0, IPCMNI_MAX);
        int forced = d.u32("shm_rmid_forced", 0, 1);
        int[] sem = {d.u32("sem.semmsl"), d.u32("sem.semmns"), d.u32("sem.semopm"), d.u32("sem.semmni", 0, IPCMNI_MAX)};
        return new IpcLimitsRecord(msgmax, msgmnb, msgmni, shmmax, shmall, shmmni, forced, sem);
    }
}
