package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * ioctl(PAGEMAP_SCAN) on /proc/PID/pagemap (Linux 6.7, include/uapi/linux/fs.h): the kernel walks the page
 * tables and returns runs of pages by category, instead of one 8-byte entry per page to read and test.
 */
public final class PagemapScan {
    public static final long PAGE_IS_WPALLOWED = 1, PAGE_IS_WRITTEN = 1 << 1, PAGE_IS_FILE = 1 << 2,
            PAGE_IS_PRESENT = 1 << 3, PAGE_IS_SWAPPED = 1 << 4, PAGE_IS_PFNZERO = 1 << 5, PAGE_IS_HUGE = 1 << 6;
    /**
     * Flags: WP_MATCHING write-protects again the pages reported (uffd-wp ranges); CHECK_WPASYNC fails the
     * call with EPERM unless every VMA of the range is registered with a WP_ASYNC userfaultfd.
     */
    public static final long PM_SCAN_WP_MATCHING = 1, PM_SCAN_CHECK_WPASYNC = 1 << 1;
    /** _IOWR('f', 16, struct pm_scan_arg): 96-byte argument. */
    private static final long PAGEMAP_SCAN = 0xC0606610L;
    private static final int ARG = 96, REGIONS = 512, REGION = 24;

    /** Receives each run [start, end) found. */
    public interface Region {
        void accept(long start, long end);
    }

    /** Receives each run [start, end) found with its categories (those of returnMask). */
    public interface Categorized {
        void accept(long start, long end, long categories);
    }

    private PagemapScan() {
    }

    /**
     * Reports the runs of [start, end) whose categories, XORed with `inverted`, have every bit of `all` and
     * (if anyOf is not 0) at least one bit of anyOf. Returns false, having reported nothing, when this
     * kernel has no PAGEMAP_SCAN.
     */
    public static boolean scan(int pagemapFd, long start, long end, long inverted, long all, long anyOf, Region out)
            throws SysException {
        return scan(pagemapFd, start, end, 0, inverted, all, anyOf, PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_FILE,
                (s, e, c) -> out.accept(s, e));
    }

    /**
     * scan() with flags (PM_SCAN_*) and the categories reported per run (returnMask: runs are split where
     * those differ). With PM_SCAN_WP_MATCHING the pages reported are write-protected again in the same walk.
     */
    public static boolean scan(int pagemapFd, long start, long end, long flags, long inverted, long all, long anyOf,
                               long returnMask, Categorized out) throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment arg = a.allocate(ARG, 8);
            MemorySegment vec = a.allocate((long) REGIONS * REGION, 8);
            long at = start;
            boolean first = true;
            while (at < end) {
                arg.fill((byte) 0);
                arg.set(JAVA_LONG, 0, ARG);                 // size
                arg.set(JAVA_LONG, 8, flags);               // flags
                arg.set(JAVA_LONG, 16, at);                 // start
                arg.set(JAVA_LONG, 24, end);                // end
                arg.set(JAVA_LONG, 40, vec.address());      // vec
                arg.set(JAVA_LONG, 48, REGIONS);            // vec_len
                arg.set(JAVA_LONG, 64, inverted);           // category_inverted
                arg.set(JAVA_LONG, 72, all);                // category_mask
                arg.set(JAVA_LONG, 80, anyOf);              // category_anyof_mask
                arg.set(JAVA_LONG, 88, returnMask);         // return_mask
                long n = Native.raw(Nr.IOCTL, pagemapFd, PAGEMAP_SCAN, arg.address());
                if (first && (n == -Errno.ENOTTY || n == -Errno.EINVAL)) return false;
                first = false;
                Native.check(n, "ioctl(PAGEMAP_SCAN, 0x" + Long.toHexString(at) + ")");
                for (int i = 0; i < n; i++) {
                    out.accept(vec.get(JAVA_LONG, (long) i * REGION), vec.get(JAVA_LONG, (long) i * REGION + 8),
                            vec.get(JAVA_LONG, (long) i * REGION + 16));
                }
                long walkEnd = arg.get(JAVA_LONG, 32);
                if (walkEnd <= at) throw new SysException("ioctl(PAGEMAP_SCAN, 0x" + Long.toHexString(at) + ") made no progress", Errno.EIO);
                at = walkEnd;
            }
            return true;
        }
    }
}
