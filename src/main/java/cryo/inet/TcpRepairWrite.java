package cryo.inet;

import cryo.sys.InetSock;
import cryo.sys.Sock;
import cryo.sys.SysException;
import cryo.sys.Tcp;

/**
 * Puts an ESTABLISHED connection back on a new socket with TCP repair (tcp(7); net/ipv4/tcp.c, tcp_output.c):
 * in repair mode TCP_QUEUE_SEQ sets where each queue starts, connect() sends no SYN and makes the socket
 * ESTABLISHED at once (tcp_connect), TCP_REPAIR_OPTIONS and TCP_TIMESTAMP give back what was negotiated, a send
 * under TCP_RECV_QUEUE fills the receive queue (tcp_send_rcvq) and one under TCP_SEND_QUEUE the send queue as
 * sent but not acknowledged (tcp_write_xmit skips transmission), and TCP_REPAIR_WINDOW the windows. Repair off
 * (release, once every socket is made) sends a window probe; the bytes never sent are then sent as any write.
 * Half-closed connections: a FIN received is received again (receiveFin), a FIN sent is sent again by
 * shutdown(SHUT_WR) once out of repair mode.
 */
final class TcpRepairWrite {
    private TcpRepairWrite() {
    }

    static void restore(int fd, TcpSocketRecord s, TcpStreamRecord t, String what) throws SysException {
        byte[] send = t.sendQueue(), recv = t.recvQueue();
        int sent = send.length - t.unsent();
        fitBuffers(fd, s, send.length, recv.length, what);
        Tcp.repair(fd, Tcp.REPAIR_ON, what);
        Tcp.repairQueue(fd, Tcp.RECV_QUEUE, what);
        // a FIN took the last sequence number of its queue: the queue starts one before
        int finIn = TcpSocketRecord.finReceived(s.state()) ? 1 : 0;
        Tcp.setQueueSeq(fd, (t.rcvSeq() - finIn - recv.length) & 0xffffffffL, what);
        Tcp.repairQueue(fd, Tcp.SEND_QUEUE, what);
        Tcp.setQueueSeq(fd, sndUna(s, t), what);
        InetSock.bind(fd, s.local(), what);
        InetSock.connect(fd, s.peer(), what);
        java.util.List<int[]> opts = new java.util.ArrayList<>();
        if ((t.tcpiOptions() & Tcp.TCPI_OPT_SACK) != 0) opts.add(new int[]{Tcp.TCPOPT_SACK_PERM, 0});
        if ((t.tcpiOptions() & Tcp.TCPI_OPT_WSCALE) != 0) opts.add(new int[]{Tcp.TCPOPT_WINDOW, t.sndWscale() | t.rcvWscale() << 16});
        if ((t.tcpiOptions() & Tcp.TCPI_OPT_TIMESTAMPS) != 0) opts.add(new int[]{Tcp.TCPOPT_TIMESTAMP, 0});
        opts.add(new int[]{Tcp.TCPOPT_MAXSEG, t.mss()});
        Tcp.repairOptions(fd, opts.toArray(new int[0][]), what);
        if ((t.tcpiOptions() & Tcp.TCPI_OPT_TIMESTAMPS) != 0) Sock.setInt(fd, InetSock.SOL_TCP, Tcp.TCP_TIMESTAMP, (int) t.timestamp(), what + " TCP_TIMESTAMP");
        Tcp.repairQueue(fd, Tcp.RECV_QUEUE, what);
        sendAll(fd, recv, 0, recv.length, what + " receive queue");
        Tcp.repairQueue(fd, Tcp.SEND_QUEUE, what);
        sendAll(fd, send, 0, sent, what + " send queue");
        Tcp.repairQueue(fd, Tcp.NO_QUEUE, what);
    }

    /**
     * Once every socket of the image is made and the network lock is lifted (release): the peer's FIN
     * received again if it had been, the windows, then out of repair mode, with a window probe to the peer,
     * which must exist by then (a peer in the tree made later would answer the probe with a reset); the
     * socket's SO_REUSEADDR again (repair off resets sk_reuse), the bytes never sent, its own FIN, a shutdown
     * of reading.
     */
    static void release(int fd, TcpSocketRecord s, TcpStreamRecord t, String what) throws SysException {
        byte[] send = t.sendQueue();
        if (TcpSocketRecord.finReceived(s.state())) receiveFin(fd, s, t, sndUna(s, t), what);
        // rcv_wup may not be after rcv_nxt (tcp_repair_set_window): the receive queue and FIN are in first
        Tcp.setWindow(fd, t.window(), what);
        Tcp.repair(fd, Tcp.REPAIR_OFF, what);
        TcpOptions.apply(fd, s.options(), TcpOptions.KEY_REUSEADDR, what);
        sendAll(fd, send, send.length - t.unsent(), send.length, what + " unsent data");
        // its own FIN: sent again after the data, which a peer that had it acknowledges again (FIN_WAIT1 goes
        // on to FIN_WAIT2 then; CLOSING is made as LAST_ACK, which ends CLOSED rather than in TIME_WAIT)
        if ((s.shutdown() & TcpSocketRecord.SEND_SHUTDOWN) != 0) Sock.shutdown(fd, Sock.SHUT_WR, what);
        if ((s.shutdown() & TcpSocketRecord.RCV_SHUTDOWN) != 0 && !TcpSocketRecord.finReceived(s.state())) Sock.shutdown(fd, Sock.SHUT_RD, what);
    }

    /**
     * The peer's FIN, received before the checkpoint, is received again: a FIN|ACK segment from the peer's
     * address at the last sequence number of the receive queue, acknowledging what the peer had acknowledged,
     * sent through a raw socket (the socket in repair mode takes segments as any: tcp_fin makes it CLOSE_WAIT,
     * and its read returns end of file after the data). Waits until the kernel took it.
     */
    private static void receiveFin(int fd, TcpSocketRecord s, TcpStreamRecord t, long sndUna, String what) throws SysException {
        int window = (int) ((t.tcpiOptions() & Tcp.TCPI_OPT_WSCALE) != 0 ? t.window().sndWnd() >> t.sndWscale() : t.window().sndWnd());
        Tcp.sendSegment(s.peer(), s.local(), (t.rcvSeq() - 1) & 0xffffffffL, sndUna, Tcp.FLAG_FIN | Tcp.FLAG_ACK, window, what + " the peer's FIN");
        for (int i = 0; i < 2000; i++) {
            if (Tcp.info(fd, what).state() == Tcp.CLOSE_WAIT) return;
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        throw new SysException(what + ": the peer's FIN sent again was not taken (state " + Tcp.stateName(Tcp.info(fd, what).state()) + ")", cryo.sys.Errno.EIO);
    }

    /** The first sequence number of the send queue: what the peer had acknowledged (snd_una). */
    private static long sndUna(TcpSocketRecord s, TcpStreamRecord t) {
        return (t.sndSeq() - (TcpSocketRecord.finSent(s.state()) ? 1 : 0) - t.sendQueue().length) & 0xffffffffL;
    }

    /** Sends data[from, to) in full (the buffers were made to hold it: fitBuffers). */
    private static void sendAll(int fd, byte[] data, int from, int to, String what) throws SysException {
        int off = from;
        while (off < to) {
            long n = Tcp.send(fd, java.util.Arrays.copyOfRange(data, off, to), 0, what);
            if (n == 0) throw new SysException("send(" + what + "): " + (to - off) + " of " + (to - from) + " bytes do not fit the socket's buffer", cryo.sys.Errno.EAGAIN);
            off += (int) n;
        }
    }

    /**
     * A queue fit its socket's buffer at checkpoint; a new socket's unlocked buffer starts at the default,
     * which may be smaller than the one it had grown to: such a buffer is set to the recorded size (locked).
     */
    private static void fitBuffers(int fd, TcpSocketRecord s, int sendLen, int recvLen, String what) throws SysException {
        if (2L * sendLen > Sock.getInt(fd, Sock.SOL_SOCKET, Sock.SO_SNDBUF, what)) {
            Sock.setInt(fd, Sock.SOL_SOCKET, Sock.SO_SNDBUFFORCE, Math.max(s.sndbuf(), 2 * sendLen) / 2, what + " SO_SNDBUFFORCE");
        }
        if (2L * recvLen > Sock.getInt(fd, Sock.SOL_SOCKET, Sock.SO_RCVBUF, what)) {
            Sock.setInt(fd, Sock.SOL_SOCKET, Sock.SO_RCVBUFFORCE, Math.max(s.rcvbuf(), 2 * recvLen) / 2, what + " SO_RCVBUFFORCE");
        }
    }
}
