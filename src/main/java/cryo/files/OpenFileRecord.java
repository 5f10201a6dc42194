package cryo.files;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;

/**
 * OPEN_FILE: one open file description (struct file), named by objref so that every fd sharing it gets the
 * same description back. PATH descriptions are reopened from their FILE record with flags and position;
 * INHERITED ones are connected at restart to cryo's own fd `inheritFd` (a terminal or a pipe outside the
 * tree, CRIU's --shell-job), or EXTERNAL ones to the fd the user names with --inherit-fd; PIPE_READ and PIPE_WRITE are the ends of the PIPE record `pipe`; FIFO is a
 * named pipe reopened by the path of FILE `file`, its buffer in PIPE `pipe`. PROC is a file of procfs, reopened
 * by its path `description` (a /proc/PID/... file names a task of the tree, which has the same pid after restart).
 * GHOST is a deleted or O_TMPFILE file: `file` names its GHOST record; it is reopened with flags and position.
 * MEMFD is a new open of MEMFD `file` with flags and position; FIFO_UNLINKED one of UNLINKED_FIFO `file`, whose
 * buffer is PIPE `pipe`. TIMERFD and SIGNALFD are new timerfds and signalfds made from the TIMERFD or SIGNALFD `file`.
 * INOTIFY is a new inotify instance with flags, its watches in INOTIFY_WATCH records.
 */
public record OpenFileRecord(int objref, Kind kind, int file, int pipe, int flags, long pos, int inheritFd,
                             String description) implements ImageRecord {
    public enum Kind {PATH, INHERITED, PIPE_READ, PIPE_WRITE, FIFO, PROC, GHOST, MEMFD, FIFO_UNLINKED, EVENTFD, EPOLL,
        TIMERFD,
        SIGNALFD,
        INOTIFY,
        UNIX_SOCKET,
        UDP_SOCKET,
        TCP_SOCKET,
        PTY_MASTER,
        PTY_SLAVE}

    /** inheritFd of a description leading outside at fd > 2: restart needs --inherit-fd FD:description. */
    public static final int EXTERNAL = -1;

    public boolean pipeEnd() {
        return kind == Kind.PIPE_READ || kind == Kind.PIPE_WRITE || kind == Kind.FIFO || kind == Kind.FIFO_UNLINKED;
    }

    public RecordType type() {
        return RecordType.OPEN_FILE;
    }

    public void encode(Encoder e) {
        e.u32(objref).u32(kind.ordinal()).u32(file).u32(flags).u64(pos).u32(inheritFd).u32(pipe).str(description);
    }

    public static OpenFileRecord decode(Decoder d) throws ImageException {
        int objref = d.u32("objref", 1, Integer.MAX_VALUE);
        Kind kind = Kind.values()[d.u32("kind", 0, Kind.values().length - 1)];
        int file = d.u32("file");
        int flags = d.u32("flags");
        long pos = d.u64("pos");
        int inherit = d.u32("inherit_fd");
        if (inherit != EXTERNAL && (inherit < 0 || inherit > 2)) throw d.error("inherit_fd", "is " + inherit + ", not 0-2 or external (-1)");
        int pipe = d.u32("pipe");
        String desc = d.str("description");
        if (pos < 0) throw d.error("pos", "is negative");
        boolean needsFile = kind == Kind.PATH || kind == Kind.FIFO || kind == Kind.GHOST || kind == Kind.MEMFD || kind == Kind.FIFO_UNLINKED
                || kind == Kind.TIMERFD
                || kind == Kind.SIGNALFD;
        if (needsFile != (file != 0)) throw d.error("file", "objref " + file + " does not fit a " + kind + " description");
        boolean needsPipe = kind == Kind.PIPE_READ || kind == Kind.PIPE_WRITE || kind == Kind.FIFO || kind == Kind.FIFO_UNLINKED;
        if (needsPipe != (pipe != 0)) throw d.error("pipe", "objref " + pipe + " does not fit a " + kind + " description");
        if (kind == Kind.INOTIFY && (flags & ~cryo.sys.Fd.O_NONBLOCK) != 0) throw d.error("flags", "0" + Integer.toOctalString(flags) + " are not an inotify instance's (O_NONBLOCK or none)");
        if (kind == Kind.PROC && !ProcfsFile.isProcPath(desc)) throw d.error("description", "'" + desc + "' is not a path under /proc");
        return new OpenFileRecord(objref, kind, file, pipe, flags, pos, inherit, desc);
    }
}
