package cryo.files;

import cryo.remote.Scratch;
import cryo.remote.Tracee;
import cryo.sys.Fd;
import cryo.sys.Nr;
import cryo.sys.SysException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cryo as the fd broker: every open file is created once in cryo's own process and handed to each task
 * that holds it with SCM_RIGHTS over a Unix socket (unix(7)); the task takes it with a remote recvmsg and
 * dup3 moves it to its number. A description passed to several tasks stays one description, so offsets
 * and status flags remain shared.
 */
public final class FdBroker implements AutoCloseable {
    private static final int MSG_CMSG_CLOEXEC = 0x40000000;
    private final int cryoEnd;
    /** cryo's fd for the tasks' end: the stub inherits it, moveIntoPlace puts it at remoteFd, and every task inherits it from there. */
    public final int taskEnd;
    /** The fd number of the socket inside the tasks. */
    public final int remoteFd;

    public FdBroker(int remoteFd) throws SysException {
        int[] sv = Fd.socketpair();
        this.cryoEnd = sv[0];
        this.taskEnd = sv[1];
        this.remoteFd = remoteFd;
    }

    /** Moves the task end, inherited by t at cryo's number, to remoteFd in t. */
    public void moveIntoPlace(Tracee t) throws SysException {
        if (taskEnd == remoteFd) return;
        t.syscall("dup3(fd broker " + taskEnd + ", " + remoteFd + ")", Nr.DUP3, taskEnd, remoteFd, 0);
        t.syscall("close(" + taskEnd + ")", Nr.CLOSE, taskEnd);
    }

    /** Passes cryo's fd into task t; returns the number it got there (close-on-exec set). */
    public int pass(Tracee t, int localFd) throws SysException {
        Fd.sendFd(cryoEnd, localFd);
        try (Arena a = Arena.ofConfined()) {
            long base = t.scratch() + Scratch.BROKER;
            MemorySegment m = a.allocate(120);
            m.set(JAVA_LONG, 16, base + 64);       // msg_iov
            m.set(JAVA_LONG, 24, 1);               // msg_iovlen
            m.set(JAVA_LONG, 32, base + 96);       // msg_control
            m.set(JAVA_LONG, 40, 24);              // msg_controllen = CMSG_SPACE(sizeof(int))
            m.set(JAVA_LONG, 64, base + 80);       // iov_base
            m.set(JAVA_LONG, 72, 1);               // iov_len
            t.put(Scratch.BROKER, m);
            t.syscall("recvmsg(fd broker)", Nr.RECVMSG, remoteFd, base, MSG_CMSG_CLOEXEC);
            MemorySegment cmsg = t.get(base + 96, 24, a);
            if (cmsg.get(JAVA_LONG, 0) != 20) throw new SysException("recvmsg in task " + t.tid + " brought no fd", cryo.sys.Errno.EBADF);
            return cmsg.get(JAVA_INT, 16);
        }
    }

    /** Installs cryo's fd as fd number `target` of task t. */
    public void install(Tracee t, int localFd, int target, boolean cloexec) throws SysException {
        int got = pass(t, localFd);
        if (got != target) {
            t.syscall("dup3(" + got + ", " + target + ")", Nr.DUP3, got, target, cloexec ? Fd.O_CLOEXEC : 0);
            t.syscall("close(" + got + ")", Nr.CLOSE, got);
        } else if (!cloexec) {
            t.syscall("fcntl(" + target + ", F_SETFD)", Nr.FCNTL, target, Fd.F_SETFD, 0);
        }
    }

    @Override
    public void close() {
        Fd.close(cryoEnd);
        Fd.close(taskEnd);
    }
}
