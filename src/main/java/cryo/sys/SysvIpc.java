package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** SysV message queues (msgget(2), msgsnd(2), msgrcv(2), msgctl(2)). */
public final class SysvIpc {
    public static final int IPC_PRIVATE = 0, IPC_CREAT = 01000, IPC_EXCL = 02000, IPC_NOWAIT = 04000, IPC_RMID = 0;
    /** msgrcv flag: copy message number msgtyp without removing it (CONFIG_CHECKPOINT_RESTORE). */
    public static final int MSG_COPY = 040000;
    private static final int MSGGET = 68, MSGSND = 69, MSGRCV = 70, MSGCTL = 71;

    private SysvIpc() {
    }

    public static int msgget(int key, int flags) throws SysException {
        return (int) Native.check(Native.raw(MSGGET, key, flags), "msgget(" + key + ")");
    }

    public static void msgsnd(int id, long type, byte[] body) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(8L + body.length);
            m.set(JAVA_LONG, 0, type);
            MemorySegment.copy(MemorySegment.ofArray(body), 0, m, 8, body.length);
            Native.check(Native.raw(MSGSND, id, m.address(), body.length, IPC_NOWAIT), "msgsnd(" + id + ")");
        }
    }

    /** The index-th message of queue id, left in the queue: {type, body}. */
    public static Object[] msgcopy(int id, int index, int maxSize) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(8L + maxSize);
            long n = Native.check(Native.raw(MSGRCV, id, m.address(), maxSize, index, IPC_NOWAIT | MSG_COPY),
                    "msgrcv(" + id + ", MSG_COPY #" + index + ")");
            return new Object[]{m.get(JAVA_LONG, 0), m.asSlice(8, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)};
        }
    }

    public static void msgrmid(int id) throws SysException {
        Native.check(Native.raw(MSGCTL, id, IPC_RMID, 0), "msgctl(" + id + ", IPC_RMID)");
    }
}
