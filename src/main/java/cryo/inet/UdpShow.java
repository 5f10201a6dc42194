package cryo.inet;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The fields `cryo show` prints of UDP records. */
public final class UdpShow {
    private UdpShow() {
    }

    public static Map<String, Object> fields(UdpRecord r) {
        Map<String, Object> m = new LinkedHashMap<>();
        switch (r) {
            case UdpSocketRecord s -> {
                m.put("objref", s.objref());
                m.put("inode", s.inode());
                m.put("family", s.family() == cryo.sys.InetSock.AF_INET ? "inet" : "inet6");
                m.put("local", s.local().isUnspecified() ? "unbound" : s.local().toString());
                if (s.peer() != null) m.put("peer", s.peer().toString());
                if (s.peekOff() != -1) m.put("peek_off", s.peekOff());
                if (s.queued() > 0) m.put("queued", s.queued() + " datagrams, " + s.queuedBytes() + " bytes");
                List<String> o = new ArrayList<>();
                for (UdpOptions.Value v : s.options()) o.add(v.known().name() + "=" + UdpOptions.text(v.value()));
                if (!o.isEmpty()) m.put("options", o);
                if (!s.groups().isEmpty()) m.put("groups", s.groups().stream().map(UdpSocketRecord.Group::toString).toList());
            }
            case UdpQueueRecord q -> {
                m.put("socket", q.socket());
                List<String> d = new ArrayList<>();
                for (UdpQueueRecord.Datagram g : q.datagrams()) d.add(g.from() + "->" + g.to() + ":" + g.data().length);
                m.put("datagrams", d);
                m.put("bytes", q.bytes());
            }
        }
        return m;
    }
}
