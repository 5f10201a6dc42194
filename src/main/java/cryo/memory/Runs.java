package cryo.memory;

import java.util.Arrays;

/** Runs of consecutive pages to move: parallel arrays of start address and length in bytes. */
public final class Runs {
    long[] addr = new long[64];  // start addresses
    long[] len = new long[64];
    int count;
    long bytes;

    public long bytes() {
        return bytes;
    }

    /** The number of runs, and run i's start and length (cryo.precopy filters a checkpoint's runs). */
    public int count() {
        return count;
    }

    public long addr(int i) {
        return addr[i];
    }

    public long len(int i) {
        return len[i];
    }

    /** Adds [a, a+n), merging with the last run when contiguous; runs are added in address order. */
    public void add(long a, long n) {
        if (count > 0 && addr[count - 1] + len[count - 1] == a) {
            len[count - 1] += n;
        } else {
            if (count == addr.length) {
                addr = Arrays.copyOf(addr, count * 2);
                len = Arrays.copyOf(len, count * 2);
            }
            addr[count] = a;
            len[count] = n;
            count++;
        }
        bytes += n;
    }

    /** Takes the runs of other in place of its own. */
    void replaceWith(Runs other) {
        addr = other.addr;
        len = other.len;
        count = other.count;
        bytes = other.bytes;
    }

    /** The same runs cut so that none is longer than max bytes. */
    Runs split(long max) {
        Runs r = new Runs();
        for (int i = 0; i < count; i++) {
            for (long off = 0; off < len[i]; off += max) {
                long n = Math.min(max, len[i] - off);
                if (r.count == r.addr.length) {
                    r.addr = Arrays.copyOf(r.addr, r.count * 2);
                    r.len = Arrays.copyOf(r.len, r.count * 2);
                }
                r.addr[r.count] = addr[i] + off;
                r.len[r.count] = n;
                r.count++;
                r.bytes += n;
            }
        }
        return r;
    }
}
