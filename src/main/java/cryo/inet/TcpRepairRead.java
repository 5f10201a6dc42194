package cryo.inet;

import cryo.files.FdContext;
import cryo.image.Refusal;
import cryo.sys.Sock;
import cryo.sys.SysException;
import cryo.sys.Tcp;

/**
 * Reads an ESTABLISHED connection in TCP repair mode (tcp(7) TCP_REPAIR; net/ipv4/tcp.c): the sequence
 * number and the bytes of each queue (TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ, a MSG_PEEK of the queue, which repair
 * mode allows on the send queue too), the options negotiated at connect, the timestamp clock and the windows.
 * The socket is out of repair mode again when this returns, whatever happens.
 */
final class TcpRepairRead {
    private TcpRepairRead() {
    }

    /** Tries before a queue that keeps changing under the peek (packets still arrive) is refused. */
    private static final int TRIES = 5;

    static TcpStreamRecord read(FdContext c, int dup, int objref, Tcp.Info info, String what, String describe) throws Refusal, SysException {
        Tcp.repair(dup, Tcp.REPAIR_ON, what);
        try {
            Tcp.Info now = Tcp.info(dup, what);
            if (now.state() != info.state()) throw c.refuse(describe + " went from " + Tcp.stateName(info.state()) + " to " + Tcp.stateName(now.state()) + " during checkpoint");
            // A FIN sent takes the last sequence number of the send queue, and counts in SIOCOUTQ while not
            // acknowledged and in SIOCOUTQNSD while not sent; one received the last of the receive queue,
            // which SIOCINQ leaves out (tcp_inq). A peek returns data only.
            int fin = TcpSocketRecord.finSent(now.state()) ? 1 : 0;
            Tcp.repairQueue(dup, Tcp.SEND_QUEUE, what);
            long sndSeq = 0;
            int unsent = 0;
            byte[] send = null;
            for (int i = 0; i < TRIES && send == null; i++) {
                sndSeq = Tcp.queueSeq(dup, what);
                int outq = Tcp.outq(dup, what), notSent = Tcp.outqNotSent(dup, what);
                int data = Math.max(outq - fin, 0);
                unsent = Math.max(notSent - fin, 0);
                byte[] b = Tcp.peekQueue(dup, data, what + " send queue");
                if (b.length == data && Tcp.outq(dup, what) == outq && Tcp.queueSeq(dup, what) == sndSeq && Tcp.outqNotSent(dup, what) == notSent) send = b;
            }
            if (send == null) throw c.refuse(describe + ": its send queue kept changing while read (acknowledgments arriving)");
            Tcp.repairQueue(dup, Tcp.RECV_QUEUE, what);
            long rcvSeq = 0;
            byte[] recv = null;
            for (int i = 0; i < TRIES && recv == null; i++) {
                rcvSeq = Tcp.queueSeq(dup, what);
                int inq = Tcp.inq(dup, what);
                byte[] b = Tcp.peekQueue(dup, inq, what + " receive queue");
                if (b.length == inq && Tcp.inq(dup, what) == inq && Tcp.queueSeq(dup, what) == rcvSeq) recv = b;
            }
            if (recv == null) throw c.refuse(describe + ": its receive queue kept changing while read (data arriving)");
            Tcp.repairQueue(dup, Tcp.NO_QUEUE, what);
            int mss = Sock.getInt(dup, cryo.sys.InetSock.SOL_TCP, Tcp.TCP_MAXSEG, what + " TCP_MAXSEG");
            long ts = (now.options() & Tcp.TCPI_OPT_TIMESTAMPS) != 0
                    ? Integer.toUnsignedLong(Sock.getInt(dup, cryo.sys.InetSock.SOL_TCP, Tcp.TCP_TIMESTAMP, what + " TCP_TIMESTAMP")) : 0;
            Tcp.Window w = Tcp.window(dup, what);
            return new TcpStreamRecord(objref, sndSeq, rcvSeq, mss, now.sndWscale(), now.rcvWscale(), now.options() & 0xff, ts, w, unsent, send, recv);
        } finally {
            Tcp.repair(dup, Tcp.REPAIR_OFF_NO_WP, what);
        }
    }
}
