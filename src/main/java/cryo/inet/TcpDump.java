package cryo.inet;

import cryo.files.FdContext;
import cryo.files.OpenFileRecord;
import cryo.image.ImageWriter;
import cryo.image.Refusal;
import cryo.sys.Errno;
import cryo.sys.Fd;
import cryo.sys.InetSock;
import cryo.sys.InetSock.Endpoint;
import cryo.sys.Sock;
import cryo.sys.SysException;
import cryo.sys.Tcp;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The TCP sockets of one checkpoint, read through a duplicate of each task's fd (pidfd_getfd). An ESTABLISHED
 * connection is read in repair mode (the mode is the socket's, so the task's fd is in it too) and taken out of
 * it again at once, without the window probe (TCP_REPAIR_OFF_NO_WP): a checkpoint that fails or is left running
 * leaves the socket as it was. beforeKill puts those connections back in repair mode just before the tree dies,
 * so that closing them sends nothing to the peer.
 */
final class TcpDump {
    private final List<TcpRecord> records = new ArrayList<>();
    /** The task fds of the connected sockets, for beforeKill. */
    private final List<int[]> established = new ArrayList<>();
    /** The inet_diag view of the namespace's TCP sockets, by inode, read once. */
    private Map<Long, Tcp.Diag> diags;

    private Tcp.Diag diag(long inode) throws SysException {
        if (diags == null) {
            diags = new HashMap<>();
            for (int family : new int[]{InetSock.AF_INET, InetSock.AF_INET6}) {
                for (Tcp.Diag d : Tcp.diag(family, -1)) diags.put(d.inode(), d);
            }
        }
        return diags.get(inode);
    }

    OpenFileRecord checkpoint(FdContext c, int dup, int family, long inode) throws Refusal, SysException {
        String what = "fd " + c.fd() + " of " + c.pid();
        if (!c.outside().isEmpty()) {
            throw c.refuse(describe(c) + " shared with fd " + c.outside().getFirst().fd() + " of task " + c.outside().getFirst().pid()
                    + ", outside the tree: not supported");
        }
        Tcp.Info info = Tcp.info(dup, what);
        int state = info.state();
        Endpoint local = InetSock.name(dup, what);
        if (local == null) local = Endpoint.of(family, new byte[family == InetSock.AF_INET ? 4 : 16], 0);
        if (state != Tcp.LISTEN && state != Tcp.CLOSE && !TcpSocketRecord.connected(state)) {
            String why = state == Tcp.SYN_SENT ? "a connect() still in progress" : "a connection being set up or taken down";
            throw c.refuse(describe(c) + " in state " + Tcp.stateName(state) + " (" + why + "): not supported"
                    + " (cryo restores listening, unconnected, established and half-closed TCP sockets)");
        }
        boolean listening = state == Tcp.LISTEN;
        int fresh = InetSock.socket(family, Sock.SOCK_STREAM, InetSock.IPPROTO_TCP);
        int objref = c.table().nextObjref();
        try {
            long[] options = TcpOptions.read(dup, fresh, family, listening, what);
            int flags = 0;
            int sndbuf = Sock.getInt(dup, Sock.SOL_SOCKET, Sock.SO_SNDBUF, what), rcvbuf = Sock.getInt(dup, Sock.SOL_SOCKET, Sock.SO_RCVBUF, what);
            int sndDefault = Sock.getInt(fresh, Sock.SOL_SOCKET, Sock.SO_SNDBUF, "a new TCP socket"), rcvDefault = Sock.getInt(fresh, Sock.SOL_SOCKET, Sock.SO_RCVBUF, "a new TCP socket");
            // sk_userlocks is not readable: a connection's unlocked buffers only grow from the default
            // (tcp_rcv_space_adjust, tcp_sndbuf_expand), so a smaller one was set by the user; a socket that
            // never connected keeps the default unless set.
            if (TcpSocketRecord.connected(state) ? sndbuf < sndDefault : sndbuf != sndDefault) flags |= TcpSocketRecord.SNDBUF_LOCKED;
            if (TcpSocketRecord.connected(state) ? rcvbuf < rcvDefault : rcvbuf != rcvDefault) flags |= TcpSocketRecord.RCVBUF_LOCKED;
            byte[] linger = InetSock.getBytes(dup, Sock.SOL_SOCKET, TcpOptions.SO_LINGER, 8, what + " SO_LINGER");
            java.nio.ByteBuffer lb = java.nio.ByteBuffer.wrap(linger).order(java.nio.ByteOrder.nativeOrder());
            int lingerOn = lb.getInt() != 0 ? 1 : 0, lingerSecs = lb.getInt();
            String cc = congestion(dup, what), ccDefault = congestion(fresh, "a new TCP socket");
            Tcp.Diag d = diag(inode);
            int backlog = 0, shutdown = 0;
            if (listening) {
                if (d == null) throw c.refuse(describe(c) + ": inet_diag does not list it (another network namespace?)");
                if (d.rqueue() > 0) throw c.refuse(describe(c) + " with " + d.rqueue() + " connection(s) completed but not accepted yet: not supported"
                        + " (a connection cannot be put back into an accept queue)");
                backlog = (int) d.wqueue();
            }
            Endpoint peer = null;
            TcpStreamRecord stream = null;
            if (TcpSocketRecord.connected(state)) {
                peer = InetSock.peer(dup, what);
                if (peer == null) throw c.refuse(describe(c) + ": connected without a peer address");
                if (d == null) throw c.refuse(describe(c) + ": inet_diag does not list it (another network namespace?)");
                shutdown = d.shutdown();
                if (TcpSocketRecord.finSent(state)) shutdown |= TcpSocketRecord.SEND_SHUTDOWN;
                if (TcpSocketRecord.finReceived(state)) shutdown |= TcpSocketRecord.RCV_SHUTDOWN;
                refuseUrgent(c, dup);
                int reuse = Sock.getInt(dup, Sock.SOL_SOCKET, TcpOptions.SO_REUSEADDR, what + " SO_REUSEADDR");
                try {
                    stream = TcpRepairRead.read(c, dup, objref, info, what, describe(c));
                } finally {
                    // TCP_REPAIR off resets sk_reuse (do_tcp_setsockopt): the task's SO_REUSEADDR is put back
                    if (reuse != 0) Sock.setInt(dup, Sock.SOL_SOCKET, TcpOptions.SO_REUSEADDR, reuse, what + " SO_REUSEADDR");
                }
                established.add(new int[]{c.pid(), c.fd()});
            }
            records.add(new TcpSocketRecord(objref, family, state, local, peer, backlog, shutdown, flags, sndbuf, rcvbuf, lingerOn, lingerSecs,
                    cc.equals(ccDefault) ? "" : cc, options));
            if (stream != null) records.add(stream);
            return new OpenFileRecord(objref, OpenFileRecord.Kind.TCP_SOCKET, 0, 0, c.flags(), 0, 0, c.link());
        } finally {
            Fd.close(fresh);
        }
    }

    private static String congestion(int fd, String what) throws SysException {
        byte[] b = InetSock.getBytes(fd, InetSock.SOL_TCP, Tcp.TCP_CONGESTION, 16, what + " TCP_CONGESTION");
        int n = 0;
        while (n < b.length && b[n] != 0) n++;
        return new String(b, 0, n, java.nio.charset.StandardCharsets.US_ASCII);
    }

    /**
     * Urgent data (MSG_OOB) waiting: tcp_recv_urg gives the byte to a peek (or EAGAIN while its segment is on
     * the way) and EINVAL when there is none. Restored as plain data it would lose its mark: refused.
     */
    private static void refuseUrgent(FdContext c, int dup) throws Refusal, SysException {
        long r = Tcp.peekUrgent(dup);
        if (r != -Errno.EINVAL) throw c.refuse(describe(c) + " with urgent data (MSG_OOB) pending: not supported");
    }

    static String describe(FdContext c) {
        return cryo.files.SocketKind.describe(c.pid(), TcpSocketFile.inode(c.link())) + " (" + c.link() + ")";
    }

    /** Every ESTABLISHED socket read by this checkpoint back in repair mode: the tree is about to be killed. */
    void beforeKill() {
        for (int[] pf : established) {
            int dup = -1;
            try {
                dup = cryo.sys.Proc.pidfdGetfd(pf[0], pf[1]);
                Tcp.repair(dup, Tcp.REPAIR_ON, "fd " + pf[1] + " of " + pf[0]);
            } catch (SysException e) {
                // the task is gone already: its socket was closed, normally, by its exit
            } finally {
                if (dup >= 0) Fd.close(dup);
            }
        }
    }

    void write(ImageWriter w) throws IOException {
        for (TcpRecord r : records) w.write(r);
    }
}
