package cryo.sockets;

import cryo.files.FileKind;
import cryo.files.OpenFileRecord;
import cryo.files.RestoreContext;
import cryo.sys.Errno;
import cryo.sys.Fd;
import cryo.sys.Sock;
import cryo.sys.SockDiag;
import cryo.sys.SysException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Creates the Unix sockets of one restart in cryo, for the fd broker to hand out. A connected pair without
 * names is a socketpair(2); a listener is bound and listens, then its accepted connections are connected
 * and accepted again and the connections that waited in its accept queue are connected and left there, in
 * order; a datagram socket connected to a named one connects to that name. Once every task holds its fds
 * (finish), each receive queue is refilled by sending from the socket's peer (a stream's bytes, each datagram
 * or record on its own, credentials given again), then shutdown states, peers that were closed and peek
 * offsets are set as they were.
 */
final class UnixSocketsRestore implements FileKind.Restorer {
    private final RestoreContext rc;
    private final SocketsImage image;
    private final Map<Integer, Integer> fds = new HashMap<>();
    /** The other end of a socket whose peer was closed: it sends the queue, then is closed. */
    private final Map<Integer, Integer> closedPeers = new HashMap<>();
    /** Socket files this restart made, as cryo reaches them: removed again if it fails before finish. */
    private final List<String> madeFiles = new ArrayList<>();
    private boolean finished;
    private final SocketFiles files;

    UnixSocketsRestore(RestoreContext rc) {
        this.rc = rc;
        this.image = rc.image().sockets();
        this.files = new SocketFiles(rc::paths);
    }

    public int open(OpenFileRecord d) throws SysException {
        int fd = create(d.objref());
        Fd.fcntl(fd, Fd.F_SETFL, d.flags());
        return fd;
    }

    private UnixSocketRecord rec(int objref) {
        return image.unix().get(objref);
    }

    private int create(int objref) throws SysException {
        Integer have = fds.get(objref);
        if (have != null) return have;
        UnixSocketRecord s = rec(objref);
        if (s.waitingIn() != 0 || s.acceptedFrom() != 0) {
            create(s.waitingIn() + s.acceptedFrom());
            return fds.get(objref);
        }
        if (s.listening()) {
            listener(s);
            return fds.get(objref);
        }
        if (s.peer() != 0) {
            UnixSocketRecord p = rec(s.peer());
            if (p.waitingIn() != 0 || p.acceptedFrom() != 0) {   // s is the client of a listener's connection
                create(p.waitingIn() + p.acceptedFrom());
                return fds.get(objref);
            }
            if (p.peer() == s.objref()) {
                int[] pair = Sock.socketpair(Sock.AF_UNIX, s.sockType() | Sock.SOCK_NONBLOCK);
                put(s, pair[0]);
                put(p, pair[1]);
                bind(pair[0], s);
                bind(pair[1], p);
                options(pair[0], s);
                options(pair[1], p);
                return pair[0];
            }
            create(p.objref());
            int fd = fresh(s);
            files.connect(fd, p.name(), s.describe() + " to " + p.describe());
            return fd;
        }
        if (s.peerClosed()) {
            int[] pair = Sock.socketpair(Sock.AF_UNIX, s.sockType() | Sock.SOCK_NONBLOCK);
            put(s, pair[0]);
            closedPeers.put(s.objref(), pair[1]);
            bind(pair[0], s);
            options(pair[0], s);
            return pair[0];
        }
        int fd = fresh(s);
        if (s.externalPeer().length > 0) {
            // --external: a new connection to the peer's name; a stream peer must be listening there again
            files.connect(fd, s.externalPeer(), s.describe() + " to " + cryo.sys.SockDiag.nameText(s.externalPeer()) + " (--external)");
        }
        return fd;
    }

    private void put(UnixSocketRecord s, int fd) {
        fds.put(s.objref(), fd);
    }

    /**
     * A new socket of s's type, bound to its name, with its options. Every socket starts non-blocking, so a
     * connect or accept the image got wrong fails instead of hanging; open() sets each description's flags.
     */
    private int fresh(UnixSocketRecord s) throws SysException {
        int fd = Sock.socket(Sock.AF_UNIX, s.sockType() | Sock.SOCK_NONBLOCK);
        put(s, fd);
        bind(fd, s);
        options(fd, s);
        return fd;
    }

    /** The listener, its accepted connections (connected and accepted again) and its accept queue, in order. */
    private void listener(UnixSocketRecord l) throws SysException {
        int fd = fresh(l);
        Sock.listen(fd, l.backlog(), l.describe());
        for (UnixSocketRecord a : image.accepted(l.objref())) {
            int c;
            if (a.peerClosed()) {   // its client is gone: a stand-in sends the queue and is closed (finish)
                c = Sock.socket(Sock.AF_UNIX, a.sockType() | Sock.SOCK_NONBLOCK);
                closedPeers.put(a.objref(), c);
                files.connect(c, l.name(), "a stand-in for the closed peer of " + a.describe());
            } else {
                UnixSocketRecord client = rec(a.peer());
                c = fresh(client);
                files.connect(c, l.name(), client.describe() + " to " + l.describe());
            }
            int afd = Sock.accept(fd, l.describe());
            put(a, afd);
            options(afd, a);
        }
        for (UnixSocketRecord w : image.waiting(l.objref())) {
            UnixSocketRecord client = rec(w.peer());
            int c = fresh(client);
            files.connect(c, l.name(), client.describe() + " to " + l.describe());
        }
    }

    /** Binds fd to s's name, if it has one; a path where the tree sees it, its socket file as it was. */
    private void bind(int fd, UnixSocketRecord s) throws SysException {
        if (s.name().length == 0 || s.acceptedFrom() != 0) return;
        if (!s.pathName()) {
            Sock.bind(fd, s.name(), s.describe());
            return;
        }
        files.bind(fd, s);
        madeFiles.add(rc.paths().path(cryo.sys.SockDiag.nameText(s.name())));
    }

    /** SO_PASSCRED and the buffer sizes as they were (SO_*BUFFORCE: beyond net.core.[rw]mem_max needs CAP_NET_ADMIN). */
    private static void options(int fd, UnixSocketRecord s) throws SysException {
        if (s.waitingIn() != 0) return;
        String what = s.describe();
        if (s.passcred()) Sock.setInt(fd, Sock.SOL_SOCKET, Sock.SO_PASSCRED, 1, what);
        if (Sock.getInt(fd, Sock.SOL_SOCKET, Sock.SO_SNDBUF, what) != s.sndbuf()) Sock.setInt(fd, Sock.SOL_SOCKET, Sock.SO_SNDBUFFORCE, s.sndbuf() / 2, what);
        if (Sock.getInt(fd, Sock.SOL_SOCKET, Sock.SO_RCVBUF, what) != s.rcvbuf()) Sock.setInt(fd, Sock.SOL_SOCKET, Sock.SO_RCVBUFFORCE, s.rcvbuf() / 2, what);
    }

    public void finish() throws SysException {
        for (UnixSocketRecord s : image.unix().values()) {
            if (!fds.containsKey(s.objref())) continue;
            SocketQueueRecord q = image.queue(s.objref());
            if (q != null) fill(s, q);
        }
        for (UnixSocketRecord s : image.unix().values()) {
            Integer fd = fds.get(s.objref());
            if (fd == null) continue;
            int how = s.shutdown() & ~(s.peerClosed() && s.stream() ? SockDiag.RCV_SHUTDOWN | SockDiag.SEND_SHUTDOWN : 0);
            if (how != 0) Sock.shutdown(fd, how - 1, s.describe());   // RCV 1 -> SHUT_RD 0, SEND 2 -> SHUT_WR 1, both 3 -> SHUT_RDWR 2
        }
        for (int fd : closedPeers.values()) Fd.close(fd);
        closedPeers.clear();
        for (UnixSocketRecord s : image.unix().values()) {
            Integer fd = fds.get(s.objref());
            if (fd != null && s.peekOff() != -1) Sock.setInt(fd, Sock.SOL_SOCKET, Sock.SO_PEEK_OFF, s.peekOff(), s.describe());
        }
        files.unlinkGone();   // every connect and send by name is done
        files.close();
        finished = true;
    }

    /** Sends s's queue again from its peer (or from the sender each datagram names). */
    private void fill(UnixSocketRecord s, SocketQueueRecord q) throws SysException {
        String what = "the queue of " + s.describe();
        if (!rc.paths().toString().equals("/") && q.messages().stream().anyMatch(m -> m.creds() != null)) {
            // the image's pids are the tree's own; SCM_CREDENTIALS takes a pid of cryo's namespace
            throw new SysException("sendmsg(" + what + "): credentials of a message in a pid namespace of the tree's own", Errno.EINVAL);
        }
        List<Integer> temps = new ArrayList<>();
        try (Arena a = Arena.ofConfined()) {
            for (SocketQueueRecord.Message m : q.messages()) {
                int from;
                byte[] to = null;
                if (s.peer() != 0) {
                    Integer pfd = fds.get(s.peer());
                    if (pfd == null) throw new SysException("sendmsg(" + what + "): its peer has no fd to send from", Errno.EINVAL);
                    from = pfd;
                    if (rec(s.peer()).peer() != s.objref()) to = s.name();
                } else if (s.peerClosed()) {
                    from = closedPeers.get(s.objref());
                } else {
                    to = s.name();
                    from = m.from().length == 0 ? -1 : sender(m.from());
                    if (from < 0) {
                        from = Sock.socket(Sock.AF_UNIX, s.sockType());
                        temps.add(from);
                    }
                }
                if (to != null && to.length == 0) throw new SysException("sendmsg(" + what + "): the socket has no name to send to", Errno.EINVAL);
                MemorySegment data = a.allocate(Math.max(1, m.data().length)).asSlice(0, m.data().length);
                MemorySegment.copy(m.data(), 0, data, ValueLayout.JAVA_BYTE, 0, m.data().length);
                long off = 0;
                do {
                    long n;
                    try {
                        n = files.send(from, data.asSlice(off), to, m.creds(), what);
                    } catch (SysException e) {
                        if (e.errno() == Errno.EAGAIN) throw new SysException("sendmsg(" + what + "): the queue does not fit the socket's buffer", Errno.EAGAIN);
                        throw e;
                    }
                    off += n;
                } while (off < data.byteSize());
            }
        } finally {
            for (int t : temps) Fd.close(t);
        }
    }

    /** cryo's fd of the socket of the image bound to name, or -1. */
    private int sender(byte[] name) {
        for (UnixSocketRecord r : image.unix().values()) {
            if (java.util.Arrays.equals(r.name(), name) && r.acceptedFrom() == 0 && fds.containsKey(r.objref())) return fds.get(r.objref());
        }
        return -1;
    }

    public void close() {
        files.close();
        if (!finished) {
            for (String f : madeFiles) {
                try {
                    java.nio.file.Files.deleteIfExists(java.nio.file.Path.of(f));
                } catch (java.io.IOException e) {
                    // the container's root may be gone with its init: nothing more to do
                }
            }
        }
        madeFiles.clear();
        for (int fd : fds.values()) Fd.close(fd);
        fds.clear();
        for (int fd : closedPeers.values()) Fd.close(fd);
        closedPeers.clear();
    }
}
