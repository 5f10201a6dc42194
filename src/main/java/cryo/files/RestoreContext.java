package cryo.files;

import cryo.files.OpenFiles.Opener;
import java.util.List;
import java.util.Map;

/**
 * What the restore halves of file kinds read from the image: the files on disk, pipe buffers, memfds with
 * their data and unlinked FIFOs by objref, eventfd counters and epoll interest lists, and cryo's fds for descriptions that led outside the tree
 * (--inherit-fd, by description text), the opener whose root the image's paths are opened under, the
 * timerfds and signalfds by objref, the watches of inotify instances, and which files lie on a file system
 * restart makes anew (a container's tmpfs).
 */
public record RestoreContext(Map<Integer, FileRecord> files, Map<Integer, PipeRecord> pipes, Map<Integer, MemfdRecord> memfds,
                      Map<Integer, List<MemfdDataRecord>> memfdData, Map<Integer, UnlinkedFifoRecord> unlinkedFifos,
                      Map<String, Integer> inheritFds, Opener root, EventLoops eventLoops,
                      Map<Integer, TimerfdRecord> timerfds,
                      Map<Integer, SignalfdRecord> signalfds,
                      InotifyWatches inotify, java.util.function.Predicate<FileRecord> madeByRestart) {
    /** Where the image's paths are opened (OpenFiles.Opener.root). */
    public cryo.ns.Root paths() {
        return root.root();
    }

    /** The whole image (records of kinds that keep their own, such as cryo.sockets). */
    public cryo.image.Image image() {
        return root.image;
    }

    /** cryo's fd of the description objref of the image, created on first use (by its kind). */
    public int localFd(int objref) throws cryo.sys.SysException {
        return root.localFd(objref);
    }
}
