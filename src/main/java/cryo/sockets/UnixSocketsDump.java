package cryo.sockets;

import cryo.files.FdContext;
import cryo.files.FileTable;
import cryo.files.OpenFileRecord;
import cryo.image.ImageWriter;
import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.Proc;
import cryo.sys.Sock;
import cryo.sys.SockDiag;
import cryo.sys.SysException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Unix sockets of one checkpoint. Each socket of the tree is read once, when its fd is met: what
 * sock_diag tells (peer, name, state, shutdown, accept queue), its options and its receive queue through a
 * duplicate of the task's fd (pidfd_getfd). The queue is peeked at the socket's peek offset (SO_PEEK_OFF with
 * MSG_PEEK, as CRIU does), which is put back as it was, so nothing is consumed. A peer must be a socket of the
 * tree (held by one of its fds or waiting in the accept queue of one of its listeners).
 */
final class UnixSocketsDump {
    private final FileTable table;
    /** Every socket inode held by an fd of a process of the tree, to one holder. */
    private Map<Long, FileTable.Holder> held;
    private final Map<Long, SockDiag.Unix> diags = new HashMap<>();
    private final Map<Long, Integer> objrefs = new HashMap<>();
    /** The records, in the order their sockets were met (a listener's waiting connections after it). */
    private final Map<Long, UnixSocketRecord> records = new LinkedHashMap<>();
    private final List<SocketQueueRecord> queues = new ArrayList<>();
    /**
     * Clients of the tree whose connection waits in the accept queue of a listener of the tree, to that
     * listener. Such a connection (an embryo) has no inode of its own: sock_diag shows the client with no peer
     * and lists the clients in the listener's icons (net/unix/diag.c sk_diag_dump_icons).
     */
    private Map<Long, Long> waitingClients;

    UnixSocketsDump(FileTable table) {
        this.table = table;
    }

    /** sock_diag of ino, cached; null when it is no Unix socket of cryo's network namespace. */
    SockDiag.Unix diag(long ino) throws SysException {
        if (diags.containsKey(ino)) return diags.get(ino);
        SockDiag.Unix u = SockDiag.unix(ino);
        diags.put(ino, u);
        return u;
    }

    private int objref(long ino) {
        return objrefs.computeIfAbsent(ino, k -> table.nextObjref());
    }

    /** Every socket inode of the tree's fds, and every connection waiting in one of its listeners. */
    private void scanTree() throws IOException, SysException {
        if (held != null) return;
        held = new HashMap<>();
        waitingClients = new HashMap<>();
        for (int pid : table.processes()) {
            Path dir = Path.of("/proc/" + pid + "/fd");
            List<Path> fds;
            try (var s = Files.list(dir)) {
                fds = s.toList();
            } catch (IOException e) {
                continue;   // a zombie
            }
            for (Path p : fds) {
                String link;
                try {
                    link = Files.readSymbolicLink(p).toString();
                } catch (IOException e) {
                    continue;
                }
                if (link.startsWith("socket:[")) held.putIfAbsent(UnixSocketFile.inode(link), new FileTable.Holder(pid, Integer.parseInt(p.getFileName().toString()), 0));
            }
        }
        for (long ino : held.keySet()) {
            SockDiag.Unix u = diag(ino);
            if (u != null && u.listening()) for (long client : u.icons()) waitingClients.put(client, ino);
        }
    }

    /** The objref of the connection client waits with in an accept queue (its peer). */
    private int embryo(long client) {
        return objrefs.computeIfAbsent(-client, k -> table.nextObjref());
    }

    OpenFileRecord checkpoint(FdContext c, long ino) throws Refusal, IOException, SysException {
        scanTree();
        SockDiag.Unix u = diag(ino);
        String what = UnixSocketFile.describe(u) + " (" + c.link() + ")";
        if (u.type() != Sock.SOCK_STREAM && u.type() != Sock.SOCK_DGRAM && u.type() != Sock.SOCK_SEQPACKET) throw c.refuse(what + " of type " + u.type() + ": not supported");
        int peer = 0, flags = 0, acceptedFrom = 0;
        if (!c.outside().isEmpty()) {
            // one socket, one description: held outside too, it cannot be two sockets after restart
            if (c.fd() <= 2) return new OpenFileRecord(table.nextObjref(), OpenFileRecord.Kind.INHERITED, 0, 0, c.flags(), 0, c.fd(), c.link());
            FileTable.Holder o = c.outside().getFirst();
            throw c.refuse(what + " shared with fd " + o.fd() + " of task " + o.pid() + ", outside the tree: not supported");
        }
        if (u.peer() != 0 && !held.containsKey(u.peer())) {
            SockDiag.Unix p = diag(u.peer());
            if (p == null) {
                throw c.refuse(what + " connected to socket:[" + u.peer() + "], which is in another network namespace: not supported");
            } else if (c.external().contains("unix:" + ino)) {
                return external(c, u, p, what);
            } else if (c.fd() <= 2) {
                // the task's stdio connected to the world: given back by cryo restart's own fd, as before
                return new OpenFileRecord(table.nextObjref(), OpenFileRecord.Kind.INHERITED, 0, 0, c.flags(), 0, c.fd(), c.link());
            } else {
                throw c.refuse(what + " connected to " + UnixSocketFile.describe(p) + " (socket:[" + p.ino() + "]) held by "
                        + holderOutside(p.ino()) + ", outside the tree (--external unix:" + ino + " reconnects it at restart"
                        + (p.name() == null || p.name().length == 0 ? ", if the peer had a name" : " to " + p.nameText()) + ")");
            }
        } else if (u.peer() != 0) {
            peer = objref(u.peer());
            SockDiag.Unix p = diag(u.peer());
            if (u.type() == Sock.SOCK_DGRAM && p.peer() != ino && (p.name() == null || p.name().length == 0)) {
                throw c.refuse(what + " connected to " + UnixSocketFile.describe(p) + ", which has no name and is connected elsewhere: not supported");
            }
        } else if (waitingClients.containsKey(ino)) {
            if (u.wqueue() > 0) throw c.refuse(what + " that sent data into a connection its listener has not accepted yet: the kernel gives no way to read it (not supported)");
            peer = embryo(ino);
        } else if (u.connected()) {
            // No peer inode: the peer was closed (a stream peer's close shuts this one down both ways,
            // af_unix.c unix_release_sock), or this connection waits in the accept queue of a listener outside.
            if (u.type() != Sock.SOCK_DGRAM && u.shutdown() != (SockDiag.RCV_SHUTDOWN | SockDiag.SEND_SHUTDOWN)) {
                throw c.refuse(what + " waiting in the accept queue of " + listenerOutside(ino) + ", outside the tree: not supported");
            }
            flags |= UnixSocketRecord.PEER_CLOSED;
        }
        byte[] name = u.name() == null ? new byte[0] : u.name();
        if (name.length > 0 && u.type() != Sock.SOCK_DGRAM && u.state() == SockDiag.TCP_ESTABLISHED) {
            Long listener = listenerOf(u);
            if (listener == null) throw c.refuse(what + ", a connection with a name whose listening socket is not in the tree: not supported");
            acceptedFrom = objref(listener);
        }
        if (relative(name)) throw c.refuse(what + " bound to the relative path '" + SockDiag.nameText(name) + "': restart cannot know the directory it was bound in (not supported)");
        int[] file = name.length > 0 && !u.abstractName() ? socketFile(c.pid(), u) : new int[3];
        if (file[0] == 0 && name.length > 0 && !u.abstractName() && acceptedFrom == 0 && !directoryExists(c.pid(), u)) {
            throw c.refuse(what + " whose socket file was removed with its directory: restart cannot bind it there (not supported)");
        }
        int dup = Proc.pidfdGetfd(c.pid(), c.fd());
        try {
            String fdWhat = "task " + c.pid() + " fd " + c.fd();
            if (Sock.getInt(dup, Sock.SOL_SOCKET, Sock.SO_PASSPIDFD, fdWhat) != 0) throw c.refuse(what + " with SO_PASSPIDFD set: not supported");
            if (Sock.getInt(dup, Sock.SOL_SOCKET, Sock.SO_PASSCRED, fdWhat) != 0) flags |= UnixSocketRecord.PASSCRED;
            int sndbuf = Sock.getInt(dup, Sock.SOL_SOCKET, Sock.SO_SNDBUF, fdWhat), rcvbuf = Sock.getInt(dup, Sock.SOL_SOCKET, Sock.SO_RCVBUF, fdWhat);
            int peekOff = Sock.getInt(dup, Sock.SOL_SOCKET, Sock.SO_PEEK_OFF, fdWhat);
            int objref = objref(ino);
            records.put(ino, new UnixSocketRecord(objref, ino, u.type(), u.state(), peer, acceptedFrom, 0, flags, u.shutdown(),
                    sndbuf, rcvbuf, peekOff, u.listening() ? u.wqueue() : 0, file[0], file[1], file[2], name, new byte[0]));
            if (u.listening()) waiting(c, u, what);
            else queue(c, dup, objref, u, peekOff, what);
            return new OpenFileRecord(objref, OpenFileRecord.Kind.UNIX_SOCKET, 0, 0, c.flags(), 0, 0, c.link());
        } finally {
            Fd.close(dup);
        }
    }

    /**
     * A connection to a socket outside the tree the user declared with --external unix:INODE: restart connects a
     * new socket to the peer's name again. What the peer sent and this socket did not read yet cannot be sent
     * again by anyone but the peer: refused.
     */
    private OpenFileRecord external(FdContext c, SockDiag.Unix u, SockDiag.Unix p, String what) throws Refusal, SysException {
        if (p.name() == null || p.name().length == 0) throw c.refuse(what + " connected to " + UnixSocketFile.describe(p) + " outside the tree, which has no name to connect to again");
        if (relative(p.name())) throw c.refuse(what + " connected to " + UnixSocketFile.describe(p) + " outside the tree, bound to a relative path: not supported");
        if (u.name() != null && u.name().length > 0) throw c.refuse(what + ", an external connection with a name of its own: not supported");
        if (u.rqueue() > 0) throw c.refuse(what + " with data from its peer outside the tree not read yet: --external cannot give it back");
        int dup = Proc.pidfdGetfd(c.pid(), c.fd());
        try {
            String fdWhat = "task " + c.pid() + " fd " + c.fd();
            int flags = Sock.getInt(dup, Sock.SOL_SOCKET, Sock.SO_PASSCRED, fdWhat) != 0 ? UnixSocketRecord.PASSCRED : 0;
            int objref = objref(u.ino());
            records.put(u.ino(), new UnixSocketRecord(objref, u.ino(), u.type(), u.state(), 0, 0, 0, flags, u.shutdown(),
                    Sock.getInt(dup, Sock.SOL_SOCKET, Sock.SO_SNDBUF, fdWhat), Sock.getInt(dup, Sock.SOL_SOCKET, Sock.SO_RCVBUF, fdWhat),
                    Sock.getInt(dup, Sock.SOL_SOCKET, Sock.SO_PEEK_OFF, fdWhat), 0, 0, 0, 0, new byte[0], p.name()));
            return new OpenFileRecord(objref, OpenFileRecord.Kind.UNIX_SOCKET, 0, 0, c.flags(), 0, 0, c.link());
        } finally {
            Fd.close(dup);
        }
    }

    /** The listening socket of the tree an accepted connection u came from: same name, same socket file. */
    private Long listenerOf(SockDiag.Unix u) throws SysException {
        for (long l : held.keySet()) {
            SockDiag.Unix d = diag(l);
            if (d != null && d.listening() && d.type() == u.type() && Arrays.equals(d.name(), u.name()) && d.vfsIno() == u.vfsIno()) return l;
        }
        return null;
    }

    /** The connections waiting in listener u's accept queue, in order: each from a client of the tree. */
    private void waiting(FdContext c, SockDiag.Unix u, String what) throws Refusal {
        int listener = objref(u.ino());
        for (long client : u.icons()) {
            if (client == 0 || !held.containsKey(client)) {
                throw c.refuse(what + " with a connection waiting in its accept queue from " + (client == 0 ? "a closed socket" : holderOutside(client) + ", outside the tree") + ": not supported");
            }
            int e = embryo(client);
            records.put(-client, new UnixSocketRecord(e, 0, u.type(), SockDiag.TCP_ESTABLISHED, objref(client), 0, listener, 0, 0,
                    1, 1, -1, 0, 0, 0, 0, new byte[0], new byte[0]));
        }
    }

    /** The receive queue of the socket behind dup, read at its peek offset and put back as it was. */
    private void queue(FdContext c, int dup, int objref, SockDiag.Unix u, int peekOff, String what) throws Refusal, SysException, IOException {
        String fdWhat = "task " + c.pid() + " fd " + c.fd();
        List<SocketQueueRecord.Message> msgs = new ArrayList<>();
        boolean stream = u.type() == Sock.SOCK_STREAM;
        int room = 1 << 16;
        long off = 0;
        Sock.setInt(dup, Sock.SOL_SOCKET, Sock.SO_PEEK_OFF, 0, fdWhat);
        try {
            while (msgs.size() < SocketQueueRecord.MAX_MESSAGES) {
                Sock.Peeked p = Sock.peek(dup, room, fdWhat);
                if (p == null) break;
                if (p.rights()) throw c.refuse(what + " with a message carrying file descriptors (SCM_RIGHTS) in its queue: not supported");
                if (p.data() == null) {       // longer than room: read it again whole
                    room = Math.max(room * 2, p.from().length);
                    room = (int) Math.min(Integer.MAX_VALUE - 16L, Math.max(room, (long) u.rqueue()));
                    Sock.setInt(dup, Sock.SOL_SOCKET, Sock.SO_PEEK_OFF, (int) off, fdWhat);
                    continue;
                }
                // A read of nothing: the end of a stream, or of a seqpacket socket shut down for reading; on a
                // datagram socket a datagram of no bytes, which the kernel marks peeked and skips next time.
                if (p.data().length == 0 && (stream || (u.shutdown() & SockDiag.RCV_SHUTDOWN) != 0)) break;
                if (p.creds() != null && cryo.ns.Namespace.PID.differsFromCryo(c.pid())) {
                    throw c.refuse(what + " holding a message with credentials (SO_PASSCRED) in a pid namespace of its own: not supported");
                }
                if (p.creds() != null && table.processOf(p.creds().pid()) == null) {
                    throw c.refuse(what + " holding a message with the credentials of pid " + p.creds().pid() + ", which is not in the tree (SO_PASSCRED): not supported");
                }
                byte[] from = stream || u.type() == Sock.SOCK_SEQPACKET ? new byte[0] : p.from();
                if (relative(from)) throw c.refuse(what + " holding a datagram from '" + SockDiag.nameText(from) + "', a socket bound to a relative path: not supported");
                if (from.length > 0 && !namedInTree(from)) {
                    throw c.refuse(what + " holding a datagram from " + SockDiag.nameText(from) + ", which is no socket of the tree: not supported");
                }
                // A stream peek stops early (less than room) at an fd in flight, a writer with other credentials
                // (SO_PASSCRED), or the out-of-band byte (MSG_OOB, af_unix.c u->oob_skb), which the next peek at an
                // offset returns inline: restored as plain data it would lose its mark.
                if (stream && !msgs.isEmpty() && msgs.getLast().data().length < room && java.util.Objects.equals(msgs.getLast().creds(), p.creds())) {
                    throw c.refuse(what + " with out-of-band data (MSG_OOB) in its queue: not supported");
                }
                msgs.add(new SocketQueueRecord.Message(p.data(), from, p.creds()));
                off += p.data().length;
                if (off > Integer.MAX_VALUE) throw c.refuse(what + " with more than 2 GiB queued: not supported");
            }
        } finally {
            Sock.setInt(dup, Sock.SOL_SOCKET, Sock.SO_PEEK_OFF, peekOff, fdWhat);
        }
        // sock_diag counts the queue too (unix_inq_len: every byte for a stream or seqpacket socket, the first
        // message for a datagram one): what a peek cannot see, out-of-band data (MSG_OOB) for one, must not be lost
        long seen = u.type() == Sock.SOCK_DGRAM ? (msgs.isEmpty() ? 0 : msgs.getFirst().data().length) : off;
        if (seen != u.rqueue()) {
            throw c.refuse(what + " with " + u.rqueue() + " bytes queued of which a peek sees " + seen + " (out-of-band data?): not supported");
        }
        if (!msgs.isEmpty()) queues.add(new SocketQueueRecord(objref, msgs));
    }

    private boolean namedInTree(byte[] name) throws SysException {
        for (long ino : held.keySet()) {
            SockDiag.Unix d = diag(ino);
            if (d != null && Arrays.equals(d.name(), name)) return true;
        }
        return false;
    }

    /**
     * A name bound to a relative path: sock_diag and recvmsg give the bytes given to bind(2) (unix(7)), which
     * meant the binder's cwd at bind time, which may have changed since.
     */
    private static boolean relative(byte[] name) {
        return name != null && name.length > 0 && name[0] != 0 && name[0] != '/';
    }

    /** Whether the directory of u's path is there (under the task's root). */
    private static boolean directoryExists(int pid, SockDiag.Unix u) throws IOException {
        Path parent = Path.of(u.nameText()).getParent();
        if (parent == null) return true;
        return Files.isDirectory(Path.of(cryo.ns.Root.of(cryo.ns.Namespace.MNT.differsFromCryo(pid) ? pid : 0).path(parent.toString())));
    }

    /** {mode, uid, gid} of the socket file of u's path (under the task's root); mode 0 if it is gone. */
    private static int[] socketFile(int pid, SockDiag.Unix u) {
        try {
            Path p = Path.of(cryo.ns.Root.of(cryo.ns.Namespace.MNT.differsFromCryo(pid) ? pid : 0).path(u.nameText()));
            Map<String, Object> a = Files.readAttributes(p, "unix:ino,mode,uid,gid", java.nio.file.LinkOption.NOFOLLOW_LINKS);
            if ((Long) a.get("ino") != u.vfsIno()) return new int[3];
            return new int[]{(Integer) a.get("mode") & 07777, (Integer) a.get("uid"), (Integer) a.get("gid")};
        } catch (IOException e) {
            return new int[3];
        }
    }

    /** "a listening Unix stream socket at PATH (socket:[INO]) held by task N (comm) fd F" whose accept queue holds client. */
    private static String listenerOutside(long client) throws SysException {
        for (SockDiag.Unix l : SockDiag.unixListeners()) {
            for (long i : l.icons()) if (i == client) return UnixSocketFile.describe(l) + " (socket:[" + l.ino() + "]) held by " + holderOutside(l.ino());
        }
        return "a listening socket";
    }

    /** "task 123 (journald) fd 4", the first process outside the tree holding socket ino, or "no process". */
    static String holderOutside(long ino) {
        String want = "socket:[" + ino + "]";
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path pd : (Iterable<Path>) procs::iterator) {
                String n = pd.getFileName().toString();
                if (!n.chars().allMatch(Character::isDigit)) continue;
                try (var fds = Files.list(pd.resolve("fd"))) {
                    for (Path f : (Iterable<Path>) fds::iterator) {
                        try {
                            if (Files.readSymbolicLink(f).toString().equals(want)) {
                                String comm = Files.readString(pd.resolve("comm")).trim();
                                return "task " + n + " (" + comm + ") fd " + f.getFileName();
                            }
                        } catch (IOException e) {
                            // closed meanwhile
                        }
                    }
                } catch (IOException | java.io.UncheckedIOException e) {
                    // gone, or a kernel thread
                }
            }
        } catch (IOException e) {
            // /proc unreadable: say what we know
        }
        return "no process (a connection not accepted yet, or in another namespace)";
    }

    void write(ImageWriter w) throws IOException {
        for (UnixSocketRecord r : records.values()) w.write(r);
        for (SocketQueueRecord q : queues) w.write(q);
    }
}
