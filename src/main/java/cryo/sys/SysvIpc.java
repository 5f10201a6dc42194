package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * SysV IPC: msgget(2), msgsnd(2), msgrcv(2), msgctl(2), semget(2), semctl(2), shmget(2), shmat(2),
 * shmdt(2), shmctl(2), with the 64-bit ipc structs of x86_64 (uapi/asm-generic/ipcbuf.h, msgbuf.h,
 * arch/x86/include/uapi/asm/sembuf.h, shmbuf.h); x86_64 takes them without IPC_64 (no
 * CONFIG_ARCH_WANT_IPC_PARSE_VERSION: the flag would make the command invalid). These act on the IPC
 * namespace of the calling thread.
 */
public final class SysvIpc {
    public static final int IPC_PRIVATE = 0, IPC_CREAT = 01000, IPC_EXCL = 02000, IPC_NOWAIT = 04000,
            IPC_RMID = 0, IPC_SET = 1, IPC_STAT = 2;
    /** msgrcv flag: copy message number msgtyp without removing it (CONFIG_CHECKPOINT_RESTORE). */
    public static final int MSG_COPY = 040000;
    public static final int GETALL = 13, SETALL = 17, SHM_RDONLY = 010000, SHM_DEST = 01000;
    private static final int SHMGET = 29, SHMAT = 30, SHMCTL = 31, SEMGET = 64, SEMCTL = 66, SHMDT = 67,
            MSGGET = 68, MSGSND = 69, MSGRCV = 70, MSGCTL = 71;

    private SysvIpc() {
    }

    /** struct ipc64_perm plus the fields of the msqid64_ds / semid64_ds / shmid64_ds around it. */
    public record Perm(int key, int uid, int gid, int cuid, int cgid, int mode) {
        static Perm of(MemorySegment s) {
            return new Perm(s.get(JAVA_INT, 0), s.get(JAVA_INT, 4), s.get(JAVA_INT, 8), s.get(JAVA_INT, 12),
                    s.get(JAVA_INT, 16), Short.toUnsignedInt(s.get(JAVA_SHORT, 20)));
        }

        void into(MemorySegment s) {
            s.set(JAVA_INT, 4, uid);
            s.set(JAVA_INT, 8, gid);
            s.set(JAVA_SHORT, 20, (short) mode);
        }
    }

    // ---------------------------------------------------------------- message queues

    public record MsqStat(Perm perm, long stime, long rtime, long ctime, long cbytes, long qnum, long qbytes, int lspid, int lrpid) {
    }

    public static int msgget(int key, int flags) throws SysException {
        return (int) Native.check(Native.raw(MSGGET, key, flags), "msgget(key " + key + ")");
    }

    public static MsqStat msgStat(int id) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(120);
            Native.check(Native.raw(MSGCTL, id, IPC_STAT, s.address()), "msgctl(" + id + ", IPC_STAT)");
            return new MsqStat(Perm.of(s), s.get(JAVA_LONG, 48), s.get(JAVA_LONG, 56), s.get(JAVA_LONG, 64),
                    s.get(JAVA_LONG, 72), s.get(JAVA_LONG, 80), s.get(JAVA_LONG, 88), s.get(JAVA_INT, 96), s.get(JAVA_INT, 100));
        }
    }

    /** IPC_SET: owner uid/gid, mode and the queue's byte limit. */
    public static void msgSet(int id, Perm perm, long qbytes) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(120);
            perm.into(s);
            s.set(JAVA_LONG, 88, qbytes);
            Native.check(Native.raw(MSGCTL, id, IPC_SET, s.address()), "msgctl(" + id + ", IPC_SET)");
        }
    }

    public static void msgsnd(int id, long type, byte[] body) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(8L + body.length);
            m.set(JAVA_LONG, 0, type);
            MemorySegment.copy(MemorySegment.ofArray(body), 0, m, 8, body.length);
            Native.check(Native.raw(MSGSND, id, m.address(), body.length, IPC_NOWAIT), "msgsnd(" + id + ", " + body.length + " bytes)");
        }
    }

    /** The index-th message of queue id, left in the queue: {type, body}. */
    public static Object[] msgcopy(int id, int index, int maxSize) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(8L + maxSize);
            long n = Native.check(Native.raw(MSGRCV, id, m.address(), maxSize, index, IPC_NOWAIT | MSG_COPY),
                    "msgrcv(" + id + ", MSG_COPY #" + index + ")");
            return new Object[]{m.get(JAVA_LONG, 0), m.asSlice(8, n).toArray(JAVA_BYTE)};
        }
    }

    public static void msgrmid(int id) throws SysException {
        Native.check(Native.raw(MSGCTL, id, IPC_RMID, 0), "msgctl(" + id + ", IPC_RMID)");
    }

    // ---------------------------------------------------------------- semaphores

    public record SemStat(Perm perm, long otime, long ctime, int nsems) {
    }

    public static int semget(int key, int nsems, int flags) throws SysException {
        return (int) Native.check(Native.raw(SEMGET, key, nsems, flags), "semget(key " + key + ")");
    }

    public static SemStat semStat(int id) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(104);
            Native.check(Native.raw(SEMCTL, id, 0, IPC_STAT, s.address()), "semctl(" + id + ", IPC_STAT)");
            return new SemStat(Perm.of(s), s.get(JAVA_LONG, 48), s.get(JAVA_LONG, 64), (int) s.get(JAVA_LONG, 80));
        }
    }

    public static void semSet(int id, Perm perm) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(104);
            perm.into(s);
            Native.check(Native.raw(SEMCTL, id, 0, IPC_SET, s.address()), "semctl(" + id + ", IPC_SET)");
        }
    }

    public static short[] semGetAll(int id, int nsems) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(2L * Math.max(1, nsems));
            Native.check(Native.raw(SEMCTL, id, 0, GETALL, v.address()), "semctl(" + id + ", GETALL)");
            return v.asSlice(0, 2L * nsems).toArray(JAVA_SHORT);
        }
    }

    public static void semSetAll(int id, short[] values) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(2L * Math.max(1, values.length));
            MemorySegment.copy(values, 0, v, JAVA_SHORT, 0, values.length);
            Native.check(Native.raw(SEMCTL, id, 0, SETALL, v.address()), "semctl(" + id + ", SETALL)");
        }
    }

    public static void semrmid(int id) throws SysException {
        Native.check(Native.raw(SEMCTL, id, 0, IPC_RMID, 0), "semctl(" + id + ", IPC_RMID)");
    }

    // ---------------------------------------------------------------- shared memory

    public record ShmStat(Perm perm, long size, long atime, long dtime, long ctime, int cpid, int lpid, long nattch) {
    }

    public static int shmget(int key, long size, int flags) throws SysException {
        return (int) Native.check(Native.raw(SHMGET, key, size, flags), "shmget(key " + key + ", " + size + " bytes)");
    }

    public static ShmStat shmStat(int id) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(112);
            Native.check(Native.raw(SHMCTL, id, IPC_STAT, s.address()), "shmctl(" + id + ", IPC_STAT)");
            return new ShmStat(Perm.of(s), s.get(JAVA_LONG, 48), s.get(JAVA_LONG, 56), s.get(JAVA_LONG, 64),
                    s.get(JAVA_LONG, 72), s.get(JAVA_INT, 80), s.get(JAVA_INT, 84), s.get(JAVA_LONG, 88));
        }
    }

    public static void shmSet(int id, Perm perm) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(112);
            perm.into(s);
            Native.check(Native.raw(SHMCTL, id, IPC_SET, s.address()), "shmctl(" + id + ", IPC_SET)");
        }
    }

    /** Attaches segment id in cryo; returns its address. */
    public static long shmat(int id, int flags) throws SysException {
        return Native.check(Native.raw(SHMAT, id, 0, flags), "shmat(" + id + ")");
    }

    public static void shmdt(long addr) {
        Native.raw(SHMDT, addr);
    }

    public static void shmrmid(int id) throws SysException {
        Native.check(Native.raw(SHMCTL, id, IPC_RMID, 0), "shmctl(" + id + ", IPC_RMID)");
    }
}
