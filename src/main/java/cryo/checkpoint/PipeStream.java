package cryo.checkpoint;

import cryo.sys.Errno;
import cryo.sys.Fd;
import cryo.sys.StreamFd;
import cryo.sys.SysException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;

/**
 * The image into a pipe or FIFO on stdout, with a bound on how long its reader may take nothing. Writes go
 * through a description of cryo's own on the same pipe (/proc/self/fd/1 opened again, O_NONBLOCK): the
 * shell's description, shared with other processes, keeps its flags. A write that finds the pipe full
 * waits in poll(2) at most stallMs; a reader that went away is EPIPE (the JVM ignores SIGPIPE).
 */
final class PipeStream implements WritableByteChannel {
    private final int fd;
    private final long stallMs;
    private final Arena arena = Arena.ofShared();
    /** Where the bytes of a heap buffer are copied to be written. */
    private final MemorySegment bounce = arena.allocate(1 << 16, 4096);
    private boolean open = true;

    private PipeStream(int fd, long stallMs) {
        this.fd = fd;
        this.stallMs = stallMs;
    }

    /** Opens stdout's pipe for cryo; an OutputException if it has no reader any more (ENXIO, fifo(7)). */
    static PipeStream open(long stallMs) throws Output.OutputException {
        try {
            return new PipeStream(Fd.open("/proc/self/fd/1", Fd.O_WRONLY | Fd.O_NONBLOCK), stallMs);
        } catch (SysException e) {
            if (e.errno() == Errno.ENXIO) throw new Output.OutputException("cannot write the image to stdout: nothing reads the pipe");
            throw new Output.OutputException("cannot write the image to stdout: " + e.getMessage());
        }
    }

    @Override
    public int write(ByteBuffer b) throws IOException {
        int total = 0;
        while (b.hasRemaining()) {
            MemorySegment from;
            if (b.isDirect()) {
                from = MemorySegment.ofBuffer(b);
            } else {
                from = bounce.asSlice(0, Math.min(b.remaining(), bounce.byteSize()));
                from.copyFrom(MemorySegment.ofBuffer(b).asSlice(0, from.byteSize()));
            }
            int n;
            try {
                n = StreamFd.write(fd, from, "stdout");
                if (n < 0) {
                    await(StreamFd.POLLOUT);
                    continue;
                }
            } catch (SysException e) {
                throw new IOException(e.errno() == Errno.EPIPE ? "the reader of the pipe went away (EPIPE)" : e.getMessage());
            }
            b.position(b.position() + n);
            total += n;
        }
        return total;
    }

    /**
     * Returns once the reader has taken every byte written (FIONREAD is 0): the image got through the pipe.
     * Fails if the reader goes away first, or takes nothing for stallMs.
     */
    void drain() throws IOException {
        try {
            int left = StreamFd.unread(fd, "stdout");
            long since = System.nanoTime();
            while (left > 0) {
                // no event is asked for: poll(2) returns early only for POLLERR, which a pipe without readers reports
                int ev = StreamFd.poll(fd, (short) 0, 5, "stdout");
                int now = StreamFd.unread(fd, "stdout");
                if ((ev & StreamFd.POLLERR) != 0 && now > 0) {
                    throw new IOException("the reader of the pipe went away with " + now + " bytes of the image unread");
                }
                if (now < left) since = System.nanoTime();
                else if (System.nanoTime() - since > stallMs * 1_000_000) throw stalled();
                left = now;
            }
        } catch (SysException e) {
            throw new IOException(e.getMessage());
        }
    }

    private void await(short events) throws IOException, SysException {
        int ev = StreamFd.poll(fd, events, stallMs, "stdout");
        if (ev == 0) throw stalled();
    }

    private IOException stalled() {
        return new IOException("the reader of the pipe took nothing for " + stallMs / 1000 + " s (--output-timeout)");
    }

    @Override
    public boolean isOpen() {
        return open;
    }

    @Override
    public void close() {
        if (!open) return;
        open = false;
        Fd.close(fd);
        arena.close();
    }
}
