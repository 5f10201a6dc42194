package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * struct flock (fcntl(2), x86_64: {short l_type; short l_whence; off_t l_start; off_t l_len; pid_t l_pid}, 32
 * bytes) for record locks, with the fcntl commands and flock(2) operations. len 0 means "to end of file".
 * Remote calls put it in the task's scratch memory; cryo itself never takes a lock.
 */
public record Flock(int type, long start, long len, int pid) {
    public static final int SIZE = 32;
    public static final int F_GETLK = 5, F_SETLK = 6, F_OFD_GETLK = 36, F_OFD_SETLK = 37;
    public static final int F_RDLCK = 0, F_WRLCK = 1, F_UNLCK = 2;
    public static final int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4;
    private static final short SEEK_SET = 0;

    /** A request for [start, start+len) of the given type (l_pid 0, as F_OFD_* require). */
    public static Flock of(boolean write, long start, long len) {
        return new Flock(write ? F_WRLCK : F_RDLCK, start, len, 0);
    }

    public MemorySegment toSegment(Arena a) {
        MemorySegment m = a.allocate(SIZE, 8);
        m.set(JAVA_SHORT, 0, (short) type);
        m.set(JAVA_SHORT, 2, SEEK_SET);
        m.set(JAVA_LONG, 8, start);
        m.set(JAVA_LONG, 16, len);
        m.set(JAVA_INT, 24, pid);
        return m;
    }

    public static Flock of(MemorySegment m) {
        return new Flock(m.get(JAVA_SHORT, 0), m.get(JAVA_LONG, 8), m.get(JAVA_LONG, 16), m.get(JAVA_INT, 24));
    }
}
