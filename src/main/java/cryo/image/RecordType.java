package cryo.image;

import cryo.files.FdRecord;
import cryo.files.FileRecord;
import cryo.files.OpenFileRecord;
import cryo.files.PipeRecord;
import cryo.memory.MmRecord;
import cryo.memory.PagesRecord;
import cryo.memory.VmaRecord;
import cryo.task.TaskRecord;
import cryo.task.ThreadRecord;

/** Record type codes, and the decoder of each (the kernel series' CKPT_HDR_* constants). */
public enum RecordType {
    HEAD(1, Head::decode),
    TREE(2, Tree::decode),
    TASK(3, TaskRecord::decode),
    THREAD(4, ThreadRecord::decode),
    MM(5, MmRecord::decode),
    FILE(6, FileRecord::decode),
    VMA(7, VmaRecord::decode),
    PAGES(8, PagesRecord::decode),
    OPEN_FILE(9, OpenFileRecord::decode),
    FD(10, FdRecord::decode),
    PIPE(11, PipeRecord::decode),
    IPC(12, cryo.ipc.IpcRecord::decode),
    SHM_PAGES(13, cryo.ipc.ShmPagesRecord::decode),
    LOCK(20, cryo.files.LockRecord::decode),
    SHMEM(14, cryo.memory.ShmemRecord::decode),
    SHMEM_PAGES(15, cryo.memory.ShmemPagesRecord::decode),
    INHERITED(16, cryo.memory.InheritedRecord::decode),
    MEMFD(21, cryo.files.MemfdRecord::decode),
    MEMFD_DATA(22, cryo.files.MemfdDataRecord::decode),
    UNLINKED_FIFO(23, cryo.files.UnlinkedFifoRecord::decode),
    DELETED_CWD(24, cryo.task.DeletedCwdRecord::decode),
    DELETED_ROOT(25, cryo.task.DeletedRootRecord::decode),
    IPC_LIMITS(26, cryo.ipc.IpcLimitsRecord::decode),
    NAMESPACES(40, cryo.ns.NamespacesRecord::decode),
    GHOST(30, cryo.files.GhostRecord::decode),
    GHOST_DATA(31, cryo.files.GhostDataRecord::decode),
    MOUNT(41, cryo.mounts.MountRecord::decode),
    MOUNT_GONE(42, cryo.mounts.MountGoneRecord::decode),
    TMPFS_FILE(43, cryo.mounts.TmpfsFileRecord::decode),
    TMPFS_DATA(44, cryo.mounts.TmpfsDataRecord::decode),
    EVENTFD(50, cryo.files.EventfdRecord::decode),
    EPOLL_TARGET(51, cryo.files.EpollTargetRecord::decode),
    TIMERFD(54, cryo.files.TimerfdRecord::decode),
    SIGNALFD(55, cryo.files.SignalfdRecord::decode),
    POSIX_TIMER(56, cryo.timers.PosixTimerRecord::decode),
    INOTIFY_WATCH(61, cryo.files.InotifyWatchRecord::decode),
    SOCKET_UNIX(70, cryo.sockets.UnixSocketRecord::decode),
    SOCKET_QUEUE(71, cryo.sockets.SocketQueueRecord::decode),
    TCP_SOCKET(72, cryo.inet.TcpSocketRecord::decode),
    TCP_STREAM(73, cryo.inet.TcpStreamRecord::decode),
    NET_LOCK(78, cryo.netlock.NetLockRecord::decode),
    UDP_SOCKET(76, cryo.inet.UdpSocketRecord::decode),
    UDP_QUEUE(77, cryo.inet.UdpQueueRecord::decode),
    TERMINAL(80, cryo.tty.TerminalRecord::decode),
    JOB_STOP(82, cryo.task.JobStopRecord::decode),
    PTY(84, cryo.tty.PtyRecord::decode),
    PTY_DATA(85, cryo.tty.PtyDataRecord::decode),
    CTTY(86, cryo.tty.CttyRecord::decode),
    PTY_SLAVE(87, cryo.tty.PtySlaveRecord::decode),
    PRECOPY_ROUND(90, cryo.precopy.PreCopyRoundRecord::decode),
    PRECOPY_PAGES(91, cryo.precopy.PreCopyPagesRecord::decode),
    PRECOPY_VALID(92, cryo.precopy.PreCopyValidRecord::decode),
    TAIL(99, Tail::decode);

    /** Reads a record body. */
    public interface Decode {
        ImageRecord decode(Decoder d) throws ImageException;
    }

    public final int code;
    final Decode decoder;

    RecordType(int code, Decode decoder) {
        this.code = code;
        this.decoder = decoder;
    }

    static RecordType of(int code) {
        for (RecordType t : values()) if (t.code == code) return t;
        return null;
    }
}
