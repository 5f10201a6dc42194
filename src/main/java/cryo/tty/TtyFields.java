package cryo.tty;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.sys.Termios;
import cryo.sys.Winsize;

/**
 * How a terminal's modes and window size are written in a record, and checked when read: only the N_TTY line
 * discipline (the one every terminal starts with; others are refused at checkpoint), only flag bits the kernel
 * defines, speeds that are not negative.
 */
public final class TtyFields {
    private TtyFields() {
    }

    public static void termios(Encoder e, Termios t) {
        e.u32(t.iflag()).u32(t.oflag()).u32(t.cflag()).u32(t.lflag()).u32(t.line()).bytes(t.cc()).u32(t.ispeed()).u32(t.ospeed());
    }

    public static Termios termios(Decoder d) throws ImageException {
        int iflag = flags(d, "termios.c_iflag", Termios.IFLAGS), oflag = flags(d, "termios.c_oflag", Termios.OFLAGS);
        int cflag = flags(d, "termios.c_cflag", Termios.CFLAGS), lflag = flags(d, "termios.c_lflag", Termios.LFLAGS);
        int line = d.u32("termios.c_line");
        if (line != 0) throw d.error("termios.c_line", "is line discipline " + line + ", not N_TTY (0)");
        byte[] cc = d.bytes("termios.c_cc", Termios.NCCS);
        if (cc.length != Termios.NCCS) throw d.error("termios.c_cc", "has " + cc.length + " characters, not " + Termios.NCCS);
        int ispeed = d.u32("termios.c_ispeed", 0, Integer.MAX_VALUE), ospeed = d.u32("termios.c_ospeed", 0, Integer.MAX_VALUE);
        return new Termios(iflag, oflag, cflag, lflag, line, cc, ispeed, ospeed);
    }

    private static int flags(Decoder d, String field, int known) throws ImageException {
        int v = d.u32(field);
        if ((v & ~known) != 0) throw d.error(field, String.format("has unknown bits 0%o", v & ~known));
        return v;
    }

    public static void winsize(Encoder e, Winsize w) {
        e.u32(w.rows()).u32(w.cols()).u32(w.xpixel()).u32(w.ypixel());
    }

    public static Winsize winsize(Decoder d) throws ImageException {
        return new Winsize(d.u32("winsize.ws_row", 0, 0xffff), d.u32("winsize.ws_col", 0, 0xffff),
                d.u32("winsize.ws_xpixel", 0, 0xffff), d.u32("winsize.ws_ypixel", 0, 0xffff));
    }
}
