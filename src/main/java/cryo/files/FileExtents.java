package cryo.files;

import cryo.sys.Fd;
import cryo.sys.SysException;

import java.util.ArrayList;
import java.util.List;

/**
 * The data extents of a file (lseek(2) SEEK_DATA/SEEK_HOLE): what of it holds data, so that holes stay holes.
 * On shmem an extent is a run of pages in memory or swap (mm/shmem.c shmem_file_llseek()).
 */
final class FileExtents {
    private FileExtents() {
    }

    /** {start, end} of every data extent of fd below size, in order. */
    static List<long[]> of(int fd, long size, String what) throws SysException {
        List<long[]> out = new ArrayList<>();
        long at = 0;
        while (at < size) {
            long data = Fd.lseek(fd, at, Fd.SEEK_DATA, what);
            if (data < 0 || data >= size) break;
            long hole = Fd.lseek(fd, data, Fd.SEEK_HOLE, what);
            if (hole < 0 || hole > size) hole = size;
            out.add(new long[]{data, hole});
            at = hole;
        }
        return out;
    }
}
