package cryo.tty;

import cryo.sys.EventPoll;
import cryo.sys.Fd;
import cryo.sys.SysException;
import cryo.sys.Termios;
import cryo.sys.TtyIo;
import cryo.tty.PtyDataRecord.Chunk;
import cryo.tty.PtyDataRecord.Kind;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * The bytes waiting in a pty pair, taken out and put back exactly (drivers/tty/n_tty.c).
 * <p>
 * Input waiting for the slave's reader has been through the slave's line discipline already (translated,
 * echoed, signals sent). A canonical reader gets one line per read(2), without the EOF character that ended
 * it; the line not ended yet is not readable until the slave is switched to non-canonical mode
 * (n_tty_set_termios() then makes the whole buffer readable). It is put back with TIOCSTI, which runs the line
 * discipline at once in cryo, under modes that take every byte as it is: no echo, no signals, no input
 * translation, erase and kill off; delimiters and EOF end lines again, and any other byte that would be special
 * is quoted with the LNEXT character. So a partial line stays partial and nothing is echoed twice.
 * <p>
 * Output waiting for the master's reader has been through the slave's output processing; the master's own
 * line discipline is raw (its modes cannot be set: TCSETS on a master sets its slave's), so it is put back with
 * TIOCSTI on the master, and what exceeds the master's buffer is written at the slave with OPOST off.
 */
final class PtyQueues {
    private static final int POLLIN = EventPoll.EPOLLIN, READ_MAX = 8192;
    private static final int PARMRK = 010, ISTRIP = 040, IUCLC = 01000, IXANY = 04000;
    private static final int ECHOPRT = 02000;
    private static final int INPUT_TRANSLATIONS = ISTRIP | Termios.INLCR | Termios.IGNCR | Termios.ICRNL | IUCLC | PARMRK | IXANY;
    private static final int ECHOES = Termios.ECHO | Termios.ECHOE | Termios.ECHOK | Termios.ECHONL | Termios.ECHOCTL | ECHOPRT | Termios.ECHOKE;

    private PtyQueues() {
    }

    /** Takes the slave's unread input through slave, cryo's own O_NONBLOCK description of it, whose modes are t. */
    static List<Chunk> takeInput(int slave, Termios t, String what) throws SysException {
        List<Chunk> chunks = new ArrayList<>();
        if ((t.lflag() & Termios.ICANON) == 0) {
            byte[] raw = readAll(slave, what);
            if (raw.length > 0) chunks.add(new Chunk(Kind.RAW, raw));
            return chunks;
        }
        for (int i = 0; i <= PtyDataRecord.MAX_BYTES; i++) {
            byte[] line = TtyIo.read(slave, READ_MAX, what);
            if (line == null) break;
            boolean delimited = line.length > 0 && delimiter(line[line.length - 1], t);
            chunks.add(new Chunk(delimited ? Kind.LINE : Kind.LINE_EOF, line));
        }
        Termios raw = t.withFlags(t.iflag(), t.oflag(), t.lflag() & ~Termios.ICANON).withCc(Termios.VMIN, 0).withCc(Termios.VTIME, 0);
        raw.set(slave, Termios.When.NOW);
        try {
            byte[] partial = readAll(slave, what);
            if (partial.length > 0) chunks.add(new Chunk(Kind.PARTIAL, partial));
        } finally {
            t.set(slave, Termios.When.NOW);
        }
        return chunks;
    }

    /** Whether b ends a canonical line under t: '\n', VEOL, or VEOL2 with IEXTEN (n_tty_receive_char_special()). */
    static boolean delimiter(byte b, Termios t) {
        int c = b & 0xff;
        return c == '\n' || (t.cc(Termios.VEOL) != 0 && c == t.cc(Termios.VEOL))
                || ((t.lflag() & Termios.IEXTEN) != 0 && t.cc(Termios.VEOL2) != 0 && c == t.cc(Termios.VEOL2));
    }

    /** Reads until nothing is left (EAGAIN, or 0 from a non-canonical read with VMIN and VTIME 0). */
    private static byte[] readAll(int fd, String what) throws SysException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] b;
        while ((b = TtyIo.read(fd, READ_MAX, what)) != null && b.length > 0) out.writeBytes(b);
        return out.toByteArray();
    }

    /**
     * Takes the slave's output not yet read at the master, through a duplicate of the master's description:
     * poll(2) before each read, so a blocking description never blocks (n_tty_poll() first moves what the
     * slave wrote into the master's buffer). In packet mode each read starts with a TIOCPKT_DATA byte (the
     * caller refused a pending status byte).
     */
    static byte[] takeOutput(int master, boolean packet, String what) throws SysException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        while ((EventPoll.readiness(master) & POLLIN) != 0) {
            byte[] b = TtyIo.read(master, READ_MAX, what);
            if (b == null || b.length == 0) break;
            if (packet) {
                if (b[0] != 0) throw new SysException("read(" + what + "): packet status byte " + b[0] + " instead of data", cryo.sys.Errno.EIO);
                out.write(b, 1, b.length - 1);
            } else {
                out.writeBytes(b);
            }
        }
        return out.toByteArray();
    }

    /** Puts the slave's input back (see the class comment); the slave's modes are t before and after. */
    static void putInput(int slave, Termios t, List<Chunk> chunks) throws SysException {
        if (chunks.isEmpty()) return;
        boolean canonical = (t.lflag() & Termios.ICANON) != 0;
        int lflag = t.lflag() & ~(Termios.ISIG | ECHOES);
        Termios feed = t.withFlags(t.iflag() & ~INPUT_TRANSLATIONS, t.oflag(), canonical ? lflag | Termios.IEXTEN : lflag);
        int eof = 0, lnext = 0;
        if (canonical) {
            int[] free = freeCharacters(t, 2);
            eof = free[0];
            lnext = free[1];
            feed = feed.withCc(Termios.VEOF, eof).withCc(Termios.VLNEXT, lnext).withCc(Termios.VERASE, 0).withCc(Termios.VKILL, 0)
                    .withCc(Termios.VWERASE, 0).withCc(Termios.VREPRINT, 0);
            if ((t.lflag() & Termios.IEXTEN) == 0) feed = feed.withCc(Termios.VEOL2, 0);
        }
        feed.set(slave, Termios.When.NOW);
        try {
            for (Chunk c : chunks) TtyIo.simulateInput(slave, canonical ? quoted(c, feed, eof, lnext) : c.data());
        } finally {
            t.set(slave, Termios.When.NOW);
        }
    }

    /** A chunk as typed under feed: special bytes quoted with lnext, a LINE_EOF chunk ended with eof. */
    private static byte[] quoted(Chunk c, Termios feed, int eof, int lnext) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] d = c.data();
        int end = c.kind() == Kind.LINE ? d.length - 1 : d.length;   // a LINE's last byte is its delimiter
        for (int i = 0; i < end; i++) {
            if (special(d[i] & 0xff, feed, eof, lnext)) out.write(lnext);
            out.write(d[i]);
        }
        if (c.kind() == Kind.LINE) out.write(d[d.length - 1]);
        if (c.kind() == Kind.LINE_EOF) out.write(eof);
        return out.toByteArray();
    }

    private static boolean special(int c, Termios feed, int eof, int lnext) {
        if (c == 0) return false;   // _POSIX_VDISABLE: no special character is NUL (n_tty_set_termios())
        boolean ixon = (feed.iflag() & Termios.IXON) != 0;
        return c == '\n' || c == eof || c == lnext || c == feed.cc(Termios.VEOL) || c == feed.cc(Termios.VEOL2)
                || (ixon && (c == feed.cc(Termios.VSTART) || c == feed.cc(Termios.VSTOP)));
    }

    /** n control characters t gives no meaning to while its input is fed back (EOF and LNEXT for the feed). */
    private static int[] freeCharacters(Termios t, int n) {
        int[] out = new int[n];
        int k = 0;
        for (int c : new int[]{4, 0x16, 1, 2, 3, 5, 6, 7, 8, 0x0b, 0x0c, 0x0e, 0x0f, 0x10}) {
            if (k == n) break;
            if (c == t.cc(Termios.VEOL) || c == t.cc(Termios.VEOL2) || c == t.cc(Termios.VSTART) || c == t.cc(Termios.VSTOP)) continue;
            out[k++] = c;
        }
        return out;
    }

    /**
     * Puts the master's unread output back: into the master's line discipline (empty now) with TIOCSTI, what
     * exceeds it written at slave (cryo's own description, -1 if none) with output processing off.
     */
    static void putOutput(int master, int slave, Termios t, byte[] data) throws SysException {
        int first = Math.min(data.length, PtyDataRecord.MAX_BYTES);
        TtyIo.simulateInput(master, java.util.Arrays.copyOf(data, first));
        if (first == data.length) return;
        if (slave < 0) throw new SysException("write(pty slave): " + (data.length - first) + " bytes of output exceed the master's buffer and no slave is open", cryo.sys.Errno.EIO);
        t.withFlags(t.iflag(), t.oflag() & ~Termios.OPOST, t.lflag()).set(slave, Termios.When.NOW);
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            java.lang.foreign.MemorySegment rest = a.allocate(data.length - first);
            rest.copyFrom(java.lang.foreign.MemorySegment.ofArray(java.util.Arrays.copyOfRange(data, first, data.length)));
            Fd.writeFully(slave, rest, "pty slave");
        } finally {
            t.set(slave, Termios.When.NOW);
        }
    }
}
