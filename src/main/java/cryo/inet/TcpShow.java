package cryo.inet;

import java.util.LinkedHashMap;
import java.util.Map;

/** The fields `cryo show` prints of TCP records. */
public final class TcpShow {
    private TcpShow() {
    }

    public static Map<String, Object> fields(TcpRecord r) {
        Map<String, Object> m = new LinkedHashMap<>();
        switch (r) {
            case TcpSocketRecord s -> {
                m.put("objref", s.objref());
                m.put("family", s.family() == cryo.sys.InetSock.AF_INET ? "inet" : "inet6");
                m.put("state", cryo.sys.Tcp.stateName(s.state()));
                m.put("local", s.local().toString());
                if (s.peer() != null) m.put("peer", s.peer().toString());
                if (s.listening()) m.put("backlog", s.backlog());
                if (s.shutdown() != 0) m.put("shutdown", ((s.shutdown() & 1) != 0 ? "rd" : "") + ((s.shutdown() & 2) != 0 ? "wr" : ""));
                m.put("sndbuf", s.sndbuf() + ((s.flags() & TcpSocketRecord.SNDBUF_LOCKED) != 0 ? " locked" : ""));
                m.put("rcvbuf", s.rcvbuf() + ((s.flags() & TcpSocketRecord.RCVBUF_LOCKED) != 0 ? " locked" : ""));
                if (s.lingerOnoff() != 0) m.put("linger", s.lingerSecs());
                if (!s.congestion().isEmpty()) m.put("congestion", s.congestion());
                if (s.options().length > 0) {
                    StringBuilder b = new StringBuilder();
                    for (long o : s.options()) b.append(b.isEmpty() ? "" : " ").append(TcpOptions.text(o));
                    m.put("options", b.toString());
                }
            }
            case TcpStreamRecord t -> {
                m.put("socket", t.socket());
                m.put("snd_seq", t.sndSeq());
                m.put("rcv_seq", t.rcvSeq());
                m.put("mss", t.mss());
                m.put("wscale", t.sndWscale() + "/" + t.rcvWscale());
                m.put("tcpi_options", t.tcpiOptions());
                if (t.timestamp() != 0) m.put("timestamp", t.timestamp());
                m.put("window", t.window().sndWnd() + " snd, " + t.window().rcvWnd() + " rcv");
                m.put("send_queue", t.sendQueue().length + " bytes (" + t.unsent() + " unsent)");
                m.put("recv_queue", t.recvQueue().length + " bytes");
            }
        }
        return m;
    }
}
