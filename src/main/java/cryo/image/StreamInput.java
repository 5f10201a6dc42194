package cryo.image;

import cryo.sys.Fd;
import cryo.sys.StreamFd;
import cryo.sys.SysException;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;

/**
 * An image read as a stream (stdin, or a FIFO named on the command line) with a bound on waiting: each read
 * first polls, and no byte (nor end of input) for stallMs is an error naming the input and the option. A
 * FIFO is opened O_NONBLOCK, so that its open does not wait for a writer either; it is read only once poll
 * says so, since a read before any writer came would be end of file (pipe(7)).
 */
final class StreamInput implements ReadableByteChannel {
    /** No byte of the image came for the time allowed: Main reports it as one line. */
    static final class Stalled extends IOException {
        Stalled(String message) {
            super(message);
        }
    }

    private final int fd;
    private final boolean own;
    private final String name;
    private final long stallMs;
    private boolean open = true;

    private StreamInput(int fd, boolean own, String name, long stallMs) {
        this.fd = fd;
        this.own = own;
        this.name = name;
        this.stallMs = stallMs;
    }

    static StreamInput stdin(long stallMs) {
        return new StreamInput(0, false, "stdin", stallMs);
    }

    static StreamInput fifo(String path, long stallMs) throws SysException {
        return new StreamInput(Fd.open(path, Fd.O_RDONLY | Fd.O_NONBLOCK), true, "FIFO " + path, stallMs);
    }

    @Override
    public int read(ByteBuffer b) throws IOException {
        if (!b.isDirect()) throw new IllegalArgumentException("a direct buffer");
        try {
            while (true) {
                if (StreamFd.poll(fd, StreamFd.POLLIN, stallMs, name) == 0) {
                    throw new Stalled("image on " + name + ": no byte came for " + stallMs / 1000 + " s (--input-timeout)");
                }
                int n = StreamFd.read(fd, MemorySegment.ofBuffer(b), name);
                if (n < 0) continue;   // EAGAIN: another reader of the same pipe took the bytes
                if (n == 0) return -1;
                b.position(b.position() + n);
                return n;
            }
        } catch (SysException e) {
            throw new IOException(e.getMessage());
        }
    }

    @Override
    public boolean isOpen() {
        return open;
    }

    @Override
    public void close() {
        if (open && own) Fd.close(fd);
        open = false;
    }
}
