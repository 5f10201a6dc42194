package cryo.files;

import cryo.image.ImageException;
import cryo.image.PayloadRecord;
import cryo.image.Refusal;
import cryo.sys.Errno;
import cryo.sys.Fd;
import cryo.sys.FileIo;
import cryo.sys.Fs;
import cryo.sys.SysException;

import java.io.IOException;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An fd of a memfd (memfd_create(2)): the memfd itself is a MEMFD record with its data (UnnamedFiles), each
 * description an OPEN_FILE of kind MEMFD with its flags and offset. Restart creates each memfd once, in cryo,
 * with its name, contents, size, mode and owner; every description of it (and every mapping: object())
 * is a new open of that one file through /proc/self/fd, and the seals go on last (finish()), once every
 * mapping is in place: F_SEAL_WRITE refuses to go on a file mapped shared and writable, and
 * F_SEAL_FUTURE_WRITE would refuse the restored writable mappings (mm/memfd.c memfd_add_seals()).
 */
final class MemfdFile implements FileKind {
    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.MEMFD);
    }

    public boolean takes(FdContext c) {
        return c.fileType() == FileRecord.S_IFREG && UnnamedFiles.isMemfd(c.link());
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        for (FileTable.Holder h : c.outside()) {
            // Another memfd may bear the same name: only the same inode is this one.
            try {
                FileTable.Stat o = FileTable.Stat.of(java.nio.file.Path.of("/proc/" + h.pid() + "/fd/" + h.fd()));
                if (o.dev() == c.st().dev() && o.ino() == c.st().ino()) {
                    throw c.refuse(c.link().substring(1, c.link().length() - " (deleted)".length()) + ", which task " + h.pid() + " (fd " + h.fd()
                            + ") outside the tree holds too: not supported (restart would give the tree a memfd of its own)");
                }
            } catch (java.nio.file.NoSuchFileException gone) {
                // the outside process closed it or exited
            }
        }
        MemfdRecord m = c.table().unnamed().memfd(c.pid(), c.proc(), c.link(), "fd " + c.fd());
        return new OpenFileRecord(c.table().nextObjref(), OpenFileRecord.Kind.MEMFD, m.objref(), 0, c.flags(), c.pos(), 0, c.link());
    }

    public Restorer restorer(RestoreContext rc) {
        return new Objects(rc);
    }

    /** The memfds of one restart, each created once in cryo, and the descriptions opened on them. */
    static final class Objects implements Restorer {
        private final RestoreContext rc;
        private final Map<Integer, Integer> objects = new LinkedHashMap<>();
        private final List<Integer> opened = new ArrayList<>();

        Objects(RestoreContext rc) {
            this.rc = rc;
        }

        public int open(OpenFileRecord d) throws SysException {
            int object = object(d.file());
            int fd = Fd.open("/proc/self/fd/" + object, d.flags() & RegularFile.OPEN_FLAGS_KEPT);
            opened.add(fd);
            if (d.pos() != 0) Fd.lseek(fd, d.pos(), d.description());
            return fd;
        }

        /** cryo's fd (O_RDWR) on the memfd of MEMFD objref, created and filled the first time it is asked for. */
        int object(int objref) throws SysException {
            Integer fd = objects.get(objref);
            if (fd != null) return fd;
            MemfdRecord m = rc.memfds().get(objref);
            fd = create(m);
            objects.put(objref, fd);
            try {
                fill(fd, m, rc.memfdData().getOrDefault(objref, List.of()));
            } catch (ImageException e) {
                throw new SysException(e.getMessage(), Errno.EIO);
            }
            return fd;
        }

        /**
         * memfd_create with sealing allowed (the seals are added later, F_SEAL_SEAL among them if it had
         * it): MFD_NOEXEC_SEAL for one sealed against exec with no exec bits, else MFD_EXEC, so that
         * vm.memfd_noexec=1 does not seal it against exec (mm/memfd.c; kernels before 6.3 know neither flag
         * nor sysctl). A memfd born with a seal it did not have is an error, not a silent change.
         */
        private static int create(MemfdRecord m) throws SysException {
            boolean noexec = (m.seals() & MemfdRecord.F_SEAL_EXEC) != 0 && (m.mode() & 0111) == 0;
            int fd;
            try {
                fd = Fs.memfdCreate(m.name(), Fs.MFD_ALLOW_SEALING | (noexec ? Fs.MFD_NOEXEC_SEAL : Fs.MFD_EXEC));
            } catch (SysException e) {
                if (e.errno() != Errno.EINVAL || noexec) throw e;
                fd = Fs.memfdCreate(m.name(), Fs.MFD_ALLOW_SEALING);
            }
            int born = Fd.fcntl(fd, Fs.F_GET_SEALS, 0);
            if ((born & ~m.seals()) != 0) {
                Fd.close(fd);
                throw new SysException("memfd_create(" + m.name() + ") made a memfd sealed 0x" + Integer.toHexString(born)
                        + ", more than its seals 0x" + Integer.toHexString(m.seals()) + " (vm.memfd_noexec?)", Errno.EPERM);
            }
            return fd;
        }

        private static void fill(int fd, MemfdRecord m, List<MemfdDataRecord> data) throws SysException, ImageException {
            String what = m.describe();
            FileIo.ftruncate(fd, m.size(), what);
            FileData.write(fd, data, what, PayloadRecord::verify);
            FileIo.fchown(fd, m.uid(), m.gid(), what);      // first: chown(2) clears set-user-ID
            FileIo.fchmod(fd, m.mode() & 07777, what);
        }

        public void finish() throws SysException {
            for (var e : objects.entrySet()) {
                MemfdRecord m = rc.memfds().get(e.getKey());
                int now = Fd.fcntl(e.getValue(), Fs.F_GET_SEALS, 0);
                int add = m.seals() & ~now;
                if (add != 0) {
                    try {
                        Fd.fcntl(e.getValue(), Fs.F_ADD_SEALS, add);
                    } catch (SysException x) {
                        throw new SysException("F_ADD_SEALS(" + m.describe() + ", 0x" + Integer.toHexString(add) + ")", x.errno());
                    }
                }
            }
        }

        public void close() {
            for (int fd : opened) Fd.close(fd);
            opened.clear();
            for (int fd : objects.values()) Fd.close(fd);
            objects.clear();
        }
    }
}
