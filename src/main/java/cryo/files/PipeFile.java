package cryo.files;

import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.SysException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An end of a pipe of the tree's own (fs/pipe.c). Checkpoint saves the pipe once (PIPE: capacity and unread
 * bytes, read with tee(2) so nothing is consumed: FileTable.pipe) and each description of it by its end and
 * flags. Restart creates the pipe with its capacity, writes the bytes back (the kernel series'
 * pipe_file_restore()), and hands out its ends.
 */
final class PipeFile implements FileKind {
    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.PIPE_READ, OpenFileRecord.Kind.PIPE_WRITE);
    }

    public boolean takes(FdContext c) {
        return c.link().startsWith("pipe:");
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        PipeRecord p = c.table().pipe(c.pid(), c.fd(), c.st().ino());
        OpenFileRecord.Kind end = (c.flags() & Fd.O_ACCMODE) == Fd.O_RDONLY ? OpenFileRecord.Kind.PIPE_READ : OpenFileRecord.Kind.PIPE_WRITE;
        return new OpenFileRecord(c.table().nextObjref(), end, 0, p.objref(), c.flags(), 0, 0, c.link());
    }

    /** Sets a pipe's capacity and writes its saved bytes back into it through writeEnd. */
    static void fill(int writeEnd, PipeRecord p) throws SysException {
        if (Fd.fcntl(writeEnd, Fd.F_GETPIPE_SZ, 0) != p.capacity()) Fd.fcntl(writeEnd, Fd.F_SETPIPE_SZ, p.capacity());
        if (p.data().length == 0) return;
        try (Arena a = Arena.ofConfined()) {
            Fd.writeFully(writeEnd, a.allocateFrom(ValueLayout.JAVA_BYTE, p.data()), "pipe " + p.inode());
        }
    }

    public Restorer restorer(RestoreContext rc) {
        return new Restorer() {
            private final Map<Integer, int[]> ends = new HashMap<>();
            private final Set<String> endsGiven = new HashSet<>();
            private final List<Integer> reopened = new ArrayList<>();

            /**
             * The first description of each end is that end of the pipe cryo creates; any other (a second
             * reader or writer, or one opened O_RDWR through /proc/PID/fd/N) is a new open of the same pipe,
             * as a FIFO open would give (fs/pipe.c fifo_open()). cryo keeps both ends open until close(), so
             * such an open always finds the other side, and a pipe end no description asked for is closed
             * then: the restored writer of a pipe whose reader was gone gets EPIPE again.
             */
            public int open(OpenFileRecord d) throws SysException {
                PipeRecord p = rc.pipes().get(d.pipe());
                int[] e = ends.get(p.objref());
                if (e == null) {
                    e = Fd.pipe();
                    ends.put(p.objref(), e);
                    fill(e[1], p);
                }
                int access = d.flags() & Fd.O_ACCMODE;
                boolean read = d.kind() == OpenFileRecord.Kind.PIPE_READ;
                int fd;
                if (access != Fd.O_RDWR && endsGiven.add(p.objref() + (read ? "r" : "w"))) {
                    fd = read ? e[0] : e[1];
                } else {
                    fd = Fd.open("/proc/self/fd/" + e[0], access | Fd.O_NONBLOCK);
                    reopened.add(fd);
                }
                Fd.fcntl(fd, Fd.F_SETFL, d.flags());
                return fd;
            }

            public void close() {
                for (int fd : reopened) Fd.close(fd);
                reopened.clear();
                for (int[] e : ends.values()) {
                    Fd.close(e[0]);
                    Fd.close(e[1]);
                }
                ends.clear();
            }
        };
    }
}
