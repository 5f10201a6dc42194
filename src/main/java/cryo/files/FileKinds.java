package cryo.files;

import cryo.image.Refusal;

import java.io.IOException;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The table of kinds of open file (the kernel series' restore_file_ops[]): checkpoint asks each kind in
 * order whether it takes an fd, restart finds the restore half by the record's kind. Adding a kind is one
 * class and one line here.
 */
final class FileKinds {
    private FileKinds() {
    }

    /** In the order checkpoint asks them: the first that takes an fd records it. */
    private static final List<FileKind> ALL = List.of(
            new cryo.sockets.UnixSocketFile(),   // before InheritedFile: a Unix socket of the tree's own, or connected outside
            new cryo.inet.UdpSocketFile(),
            new cryo.inet.TcpSocketFile(),   // before InheritedFile, which refuses other sockets
            new cryo.inet.UnsupportedSocketFile(),   // raw, packet, netlink, other families: refused by name
            new cryo.tty.PtyMasterFile(),   // before InheritedFile, which takes every terminal: ptys inside the tree
            new cryo.tty.PtySlaveFile(),    // only the slaves whose master is in the tree
            new InheritedFile(),   // anything leading outside the tree, first: a pipe held outside is not the tree's
            new PipeFile(),
            new ProcfsFile(),
            new UnlinkedFifoFile(),   // before FifoFile: a FIFO whose name is gone
            new FifoFile(),
            new GhostFile(),       // before RegularFile: a deleted file has no path to reopen
            new EventfdFile(),
            new EpollFile(),
            new MemfdFile(),          // before RegularFile: "/memfd:x (deleted)" is no path
            new TimerfdFile(),
            new SignalfdFile(),
            new InotifyFile(),
            new RegularFile());

    /** The description of the fd in c, by the first kind that takes it; a refusal if none does. */
    static OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        for (FileKind k : ALL) {
            if (k.takes(c)) return k.checkpoint(c);
        }
        // fanotify marks whole mounts and file systems, and its permission events hold other processes waiting
        if (c.link().equals("anon_inode:[fanotify]")) throw c.refuse(unsupported(c.link()) + ": not supported (cryo does not restore fanotify)");
        throw c.refuse(unsupported(c.link()) + ": not supported yet");
    }

    /** The restore half of every kind for one restart, by OPEN_FILE kind. */
    static Map<OpenFileRecord.Kind, FileKind.Restorer> restorers(RestoreContext rc) {
        Map<OpenFileRecord.Kind, FileKind.Restorer> m = new EnumMap<>(OpenFileRecord.Kind.class);
        for (FileKind k : ALL) {
            FileKind.Restorer r = k.restorer(rc);
            for (OpenFileRecord.Kind kind : k.kinds()) m.put(kind, r);
        }
        if (m.size() != OpenFileRecord.Kind.values().length) throw new IllegalStateException("a kind of OPEN_FILE has no restorer: " + m.keySet());
        return m;
    }

    /** An fd no kind takes, in words: "an epoll instance (anon_inode:[eventpoll])". */
    private static String unsupported(String link) {
        String what = switch (link) {
            case "anon_inode:[eventpoll]" -> "an epoll instance";
            case "anon_inode:[eventfd]" -> "an eventfd";
            case "anon_inode:[fanotify]" -> "a fanotify instance";
            case "anon_inode:[pidfd]" -> "a pidfd";
            case "anon_inode:[io_uring]" -> "an io_uring instance";
            case "anon_inode:[userfaultfd]" -> "a userfaultfd";
            default -> null;
        };
        return what == null ? link : what + " (" + link + ")";
    }
}
