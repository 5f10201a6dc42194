package cryo.inet;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;
import cryo.sys.Tcp;

/**
 * TCP_STREAM: what TCP repair mode reads of the ESTABLISHED socket `socket` (tcp(7), net/ipv4/tcp.c): sndSeq,
 * the next sequence number to send (write_seq, TCP_QUEUE_SEQ of the send queue); rcvSeq, the next expected
 * (rcv_nxt, of the receive queue); the options negotiated at connect (mss, window scales, tcpi_options:
 * timestamps, SACK, window scaling); the timestamp clock (TCP_TIMESTAMP); the windows (TCP_REPAIR_WINDOW); the
 * send queue (sent but not acknowledged, then `unsent` bytes never sent) and the receive queue (received, not
 * read). Sequence numbers and window fields are unsigned 32-bit values held in u64 fields.
 * {u32 socket; u64 snd_seq, rcv_seq; u32 mss, snd_wscale, rcv_wscale, tcpi_options; u64 timestamp; u64 window[5];
 * u32 send_len, unsent, recv_len; bytes send_queue, recv_queue}.
 */
public record TcpStreamRecord(int socket, long sndSeq, long rcvSeq, int mss, int sndWscale, int rcvWscale, int tcpiOptions,
                              long timestamp, Tcp.Window window, int unsent, byte[] sendQueue, byte[] recvQueue) implements TcpRecord {
    /** The most either queue may hold in an image (far above any socket buffer the kernel allows). */
    static final int MAX_QUEUE = 1 << 30;

    public TcpStreamRecord {
        sendQueue = sendQueue.clone();
        recvQueue = recvQueue.clone();
    }

    @Override
    public byte[] sendQueue() {
        return sendQueue.clone();
    }

    @Override
    public byte[] recvQueue() {
        return recvQueue.clone();
    }

    public RecordType type() {
        return RecordType.TCP_STREAM;
    }

    public void encode(Encoder e) {
        e.u32(socket).u64(sndSeq).u64(rcvSeq).u32(mss).u32(sndWscale).u32(rcvWscale).u32(tcpiOptions).u64(timestamp);
        for (long w : window.fields()) e.u64(w);
        e.u32(sendQueue.length).u32(unsent).u32(recvQueue.length).bytes(sendQueue).bytes(recvQueue);
    }

    private static long u32In64(Decoder d, String field) throws ImageException {
        long v = d.u64(field);
        if (v < 0 || v > 0xffffffffL) throw d.error(field, "is " + Long.toUnsignedString(v) + ", more than a 32-bit sequence or window value");
        return v;
    }

    public static TcpStreamRecord decode(Decoder d) throws ImageException {
        int socket = d.u32("socket", 1, Integer.MAX_VALUE);
        long sndSeq = u32In64(d, "snd_seq"), rcvSeq = u32In64(d, "rcv_seq");
        int mss = d.u32("mss", 1, 65535);
        int sndWscale = d.u32("snd_wscale", 0, 14), rcvWscale = d.u32("rcv_wscale", 0, 14);
        int opts = d.u32("tcpi_options", 0, 0xff);
        long ts = u32In64(d, "timestamp");
        String[] names = {"window.snd_wl1", "window.snd_wnd", "window.max_window", "window.rcv_wnd", "window.rcv_wup"};
        long[] w = new long[5];
        for (int i = 0; i < 5; i++) w[i] = u32In64(d, names[i]);
        Tcp.Window window = new Tcp.Window(w[0], w[1], w[2], w[3], w[4]);
        if (window.maxWindow() < window.sndWnd()) throw d.error("window.max_window", "is " + window.maxWindow() + ", less than snd_wnd " + window.sndWnd());
        int sendLen = d.u32("send_len", 0, MAX_QUEUE);
        int unsent = d.u32("unsent", 0, sendLen);
        int recvLen = d.u32("recv_len", 0, MAX_QUEUE);
        byte[] send = d.bytes("send_queue", MAX_QUEUE), recv = d.bytes("recv_queue", MAX_QUEUE);
        if (send.length != sendLen) throw d.error("send_queue", "holds " + send.length + " bytes, send_len says " + sendLen);
        if (recv.length != recvLen) throw d.error("recv_queue", "holds " + recv.length + " bytes, recv_len says " + recvLen);
        return new TcpStreamRecord(socket, sndSeq, rcvSeq, mss, sndWscale, rcvWscale, opts, ts, window, unsent, send, recv);
    }
}
