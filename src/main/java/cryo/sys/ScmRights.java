package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** The receiving side of Fd.sendFd: one fd per message as SCM_RIGHTS (unix(7)), received into cryo. */
public final class ScmRights {
    private static final int SOL_SOCKET = 1, SCM_RIGHTS = 1, MSG_CMSG_CLOEXEC = 0x40000000, SOCK_SEQPACKET = 5;

    private ScmRights() {
    }

    /** A connected pair of Unix SOCK_SEQPACKET sockets, close-on-exec: a reader sees the peer's close as the end. */
    public static int[] seqpacketPair() throws SysException {
        return Fd.socketpair(SOCK_SEQPACKET);
    }

    /** Sends fd as SCM_RIGHTS in a message of one byte. */
    public static void send(int sock, int fd) throws SysException {
        Fd.sendFd(sock, fd);
    }

    /**
     * recvmsg of one message (blocking): the fd it carried (close-on-exec), -2 for a message without one, -1
     * when the peer has closed the socket.
     */
    public static int recv(int sock) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment data = a.allocate(8);
            MemorySegment iov = a.allocate(16);
            iov.set(JAVA_LONG, 0, data.address());
            iov.set(JAVA_LONG, 8, 8);
            MemorySegment cmsg = a.allocate(24);
            MemorySegment msg = a.allocate(56);
            msg.set(JAVA_LONG, 16, iov.address());
            msg.set(JAVA_LONG, 24, 1);
            msg.set(JAVA_LONG, 32, cmsg.address());
            msg.set(JAVA_LONG, 40, 24);
            long r;
            do {
                r = Native.raw(Nr.RECVMSG, sock, msg.address(), MSG_CMSG_CLOEXEC);
            } while (r == -Errno.EINTR);
            Native.check(r, "recvmsg(SCM_RIGHTS) on socket " + sock);
            if (r == 0) return -1;
            if (msg.get(JAVA_LONG, 40) < 20 || cmsg.get(JAVA_INT, 8) != SOL_SOCKET || cmsg.get(JAVA_INT, 12) != SCM_RIGHTS) return -2;
            return cmsg.get(JAVA_INT, 16);
        }
    }
}
