package cryo.ipc;

import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.ProcFile;
import cryo.sys.SysException;
import cryo.sys.SysvIpc;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.Collection;
import java.util.Map;

/**
 * The SysV IPC sysctls of an IPC namespace of the tree's own. /proc/sys/kernel/{msg*,shm*,sem} show and set
 * those of the reading thread's IPC namespace, so everything here runs through IpcNamespace.run().
 */
public final class IpcLimits {
    private IpcLimits() {
    }

    /**
     * The calling thread's namespace's limits. shm_rmid_forced=1 destroys a segment when it is attached nowhere
     * and its creator is gone (ipc/shm.c); a restored segment's creator is a cryo thread, gone at once, so a
     * segment attached nowhere could not survive the restart: refused.
     */
    static IpcLimitsRecord checkpoint(Collection<Integer> shmIds) throws IOException, SysException, Refusal {
        String[] sem = read("sem").split("\\s+");
        IpcLimitsRecord r = new IpcLimitsRecord(Integer.parseInt(read("msgmax")), Integer.parseInt(read("msgmnb")),
                Integer.parseInt(read("msgmni")), Long.parseUnsignedLong(read("shmmax")), Long.parseUnsignedLong(read("shmall")),
                Integer.parseInt(read("shmmni")), Integer.parseInt(read("shm_rmid_forced")),
                new int[]{Integer.parseInt(sem[0]), Integer.parseInt(sem[1]), Integer.parseInt(sem[2]), Integer.parseInt(sem[3])});
        if (r.shmRmidForced() == 1) {
            for (int id : shmIds) {
                if (SysvIpc.shmStat(id).nattch() == 0) {
                    throw new Refusal("shared memory segment " + id + " is attached nowhere and kernel.shm_rmid_forced is 1: a restored one would be destroyed");
                }
            }
        }
        return r;
    }

    /**
     * Before the objects are created in the new namespace: every limit set to the image's value, or higher
     * where the objects need it (a limit lowered below what already existed); shm_rmid_forced stays 0.
     * finish() then sets the exact values.
     */
    static void prepare(IpcLimitsRecord saved, Collection<IpcRecord> objects) throws SysException {
        int msgmax = 0, msgmnb = 0, msgmni = 0, shmmni = 0, semmsl = 0, semmns = 0, semmni = 0;
        long shmmax = 0, shmall = 0;
        for (IpcRecord o : objects) {
            switch (o.kind()) {
                case MSG -> {
                    msgmni++;
                    msgmnb = (int) Math.max(msgmnb, Math.min(Integer.MAX_VALUE, o.qbytes()));
                    for (IpcRecord.Message m : o.messages()) msgmax = Math.max(msgmax, m.body().length);
                }
                case SEM -> {
                    semmni++;
                    semmsl = Math.max(semmsl, o.values().length);
                    semmns += o.values().length;
                }
                case SHM -> {
                    shmmni++;
                    shmmax = Math.max(shmmax, o.size());
                    shmall += (o.size() + 4095) / 4096;
                }
            }
        }
        IpcLimitsRecord raised = new IpcLimitsRecord(Math.max(saved.msgmax(), msgmax), Math.max(saved.msgmnb(), msgmnb),
                Math.max(saved.msgmni(), msgmni), unsignedMax(saved.shmmax(), shmmax), unsignedMax(saved.shmall(), shmall),
                Math.max(saved.shmmni(), shmmni), 0,
                new int[]{Math.max(saved.sem()[0], semmsl), Math.max(saved.sem()[1], semmns), saved.sem()[2], Math.max(saved.sem()[3], semmni)});
        write(raised);
    }

    /** After the tree's tasks attached their segments: the image's values exactly, shm_rmid_forced included. */
    static void finish(IpcLimitsRecord saved) throws SysException {
        write(saved);
    }

    private static long unsignedMax(long a, long b) {
        return Long.compareUnsigned(a, b) >= 0 ? a : b;
    }

    private static void write(IpcLimitsRecord r) throws SysException {
        for (Map.Entry<String, String> e : r.values().entrySet()) {
            String path = "/proc/sys/kernel/" + e.getKey();
            String what = path + " = " + e.getValue().replace('\t', ' ');
            int fd = Fd.open(path, Fd.O_WRONLY);
            try (Arena a = Arena.ofConfined()) {
                var text = a.allocateFrom(e.getValue() + "\n");
                Fd.writeFully(fd, text.asSlice(0, text.byteSize() - 1), what);
            } finally {
                Fd.close(fd);
            }
        }
    }

    private static String read(String sysctl) throws IOException {
        return ProcFile.read("/proc/sys/kernel/" + sysctl).trim();
    }
}
