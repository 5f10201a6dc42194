package cryo.tty;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;
import cryo.sys.Termios;
import cryo.sys.Winsize;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * TERMINAL: the terminal outside the tree that was its controlling terminal (a shell job's, CRIU's
 * --shell-job): its path at checkpoint (for `cryo show`; restart uses its own terminal), its modes and window
 * size, whether a group of the tree was its foreground job, and whether the root led the session whose
 * controlling terminal it was (then restart makes cryo's terminal the root's controlling terminal again).
 */
public record TerminalRecord(String path, boolean foreground, boolean rootLeads, Termios termios, Winsize winsize) implements ImageRecord {
    private static final int FOREGROUND = 1, ROOT_LEADS = 2, PATH_MAX = 4096;

    public RecordType type() {
        return RecordType.TERMINAL;
    }

    public void encode(Encoder e) {
        e.str(path).u32((foreground ? FOREGROUND : 0) | (rootLeads ? ROOT_LEADS : 0));
        TtyFields.termios(e, termios);
        TtyFields.winsize(e, winsize);
    }

    public static TerminalRecord decode(Decoder d) throws ImageException {
        String path = d.str("path");
        if (path.length() > PATH_MAX || !path.startsWith("/dev/") || path.contains("/../") || path.indexOf('\0') >= 0) {
            throw d.error("path", "is '" + path + "', not a device path under /dev");
        }
        int flags = d.u32("flags");
        if ((flags & ~(FOREGROUND | ROOT_LEADS)) != 0) throw d.error("flags", String.format("has unknown bits 0x%x", flags & ~(FOREGROUND | ROOT_LEADS)));
        return new TerminalRecord(path, (flags & FOREGROUND) != 0, (flags & ROOT_LEADS) != 0, TtyFields.termios(d), TtyFields.winsize(d));
    }

    /** For `cryo show`. */
    public Map<String, Object> fields() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("path", path);
        m.put("foreground", foreground);
        m.put("root_leads_session", rootLeads);
        m.put("termios", termios.toString());
        m.put("echo", (termios.lflag() & Termios.ECHO) != 0);
        m.put("canonical", (termios.lflag() & Termios.ICANON) != 0);
        m.put("intr", termios.cc(Termios.VINTR));
        m.put("winsize", winsize.rows() + "x" + winsize.cols());
        return m;
    }
}
