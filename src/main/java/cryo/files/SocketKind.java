package cryo.files;

import cryo.sys.ProcFile;

import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * What a socket is, in words, for a refusal: found by inode in the task's /proc/PID/net tables (proc(5):
 * /proc/net/tcp, udp, unix...). Only describes: checkpointing sockets is not here.
 */
public final class SocketKind {
    private SocketKind() {
    }

    private static final String[] TCP_STATES = {"?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
            "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV"};

    /** "a listening TCP socket on 127.0.0.1:8080", "a Unix stream socket", ...; "a socket" if not found. */
    public static String describe(int pid, long inode) {
        String ino = Long.toString(inode);
        try {
            for (String t : new String[]{"tcp", "tcp6", "udp", "udp6", "raw", "raw6"}) {
                String d = inet(pid, t, ino);
                if (d != null) return d;
            }
            String u = unix(pid, ino);
            if (u != null) return u;
            for (String t : new String[]{"netlink", "packet"}) {
                if (holds(pid, t, ino)) return "a " + t + " socket";
            }
        } catch (IOException | RuntimeException e) {
            // a table we cannot read: the plain name will do
        }
        return "a socket";
    }

    private static String inet(int pid, String table, String ino) throws IOException {
        String[] lines = ProcFile.read("/proc/" + pid + "/net/" + table).split("\n");
        for (int i = 1; i < lines.length; i++) {
            String[] f = lines[i].trim().split("\\s+");
            if (f.length < 10 || !f[9].equals(ino)) continue;
            String local = address(f[1]), remote = address(f[2]);
            int st = Integer.parseInt(f[3], 16);
            String proto = table.replace("6", "").toUpperCase();
            String v = table.endsWith("6") ? " (IPv6)" : "";
            if (table.startsWith("tcp")) {
                if (st == 10) return "a listening TCP socket on " + local + v;
                if (st == 1) return "a TCP connection " + local + " -> " + remote + v;
                return "a TCP socket on " + local + " in state " + (st < TCP_STATES.length ? TCP_STATES[st] : st) + v;
            }
            return "a" + (table.startsWith("udp") ? " UDP" : " raw " + proto) + " socket on " + local
                    + (remote.endsWith(":0") ? "" : " connected to " + remote) + v;
        }
        return null;
    }

    private static String unix(int pid, String ino) throws IOException {
        String[] lines = ProcFile.read("/proc/" + pid + "/net/unix").split("\n");
        for (int i = 1; i < lines.length; i++) {
            String[] f = lines[i].trim().split("\\s+");
            if (f.length < 7 || !f[6].equals(ino)) continue;
            String type = switch (Integer.parseInt(f[4], 16)) {
                case 1 -> "stream";
                case 2 -> "datagram";
                case 5 -> "seqpacket";
                default -> "";
            };
            boolean listening = (Integer.parseInt(f[3], 16) & 0x10000) != 0;   // __SO_ACCEPTCON
            String path = f.length > 7 ? " at " + f[7] : "";
            return "a " + (listening ? "listening " : "") + "Unix " + type + " socket" + path;
        }
        return null;
    }

    private static boolean holds(int pid, String table, String ino) throws IOException {
        for (String line : ProcFile.read("/proc/" + pid + "/net/" + table).split("\n")) {
            for (String f : line.trim().split("\\s+")) if (f.equals(ino)) return true;
        }
        return false;
    }

    /** "0100007F:1F90" -> "127.0.0.1:8080" (the address in network order printed as host-order words). */
    private static String address(String hex) throws UnknownHostException {
        int colon = hex.indexOf(':');
        String a = hex.substring(0, colon);
        int port = Integer.parseInt(hex.substring(colon + 1), 16);
        byte[] b = new byte[a.length() / 2];
        for (int w = 0; w < b.length / 4; w++) {
            long word = Long.parseLong(a.substring(w * 8, w * 8 + 8), 16);
            for (int k = 0; k < 4; k++) b[w * 4 + k] = (byte) (word >>> (8 * k));
        }
        String host = InetAddress.getByAddress(b).getHostAddress();
        return (b.length == 16 ? "[" + host + "]" : host) + ":" + port;
    }
}
