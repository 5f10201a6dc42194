package cryo.image;

import cryo.files.FdRecord;
import cryo.files.FileRecord;
import cryo.files.OpenFileRecord;
import cryo.files.PipeRecord;
import cryo.memory.MmRecord;
import cryo.memory.VmaRecord;
import cryo.task.TaskRecord;
import cryo.task.ThreadRecord;

/**
 * One record of the image stream: {u32 type; u32 len} then the body, padded to 8 bytes, as the kernel
 * series' ckpt_hdr. Each kind of state keeps its record beside the code that saves and restores it.
 */
public sealed interface ImageRecord permits Head, Tree, TaskRecord, ThreadRecord, MmRecord, VmaRecord,
        PayloadRecord, FileRecord, OpenFileRecord, FdRecord, cryo.files.LockRecord, PipeRecord, cryo.ipc.IpcRecord,
        cryo.memory.ShmemRecord, cryo.memory.InheritedRecord, cryo.files.GhostRecord, Tail,
        cryo.files.MemfdRecord, cryo.files.UnlinkedFifoRecord, cryo.task.DeletedCwdRecord, cryo.task.DeletedRootRecord,
        cryo.ns.NamespacesRecord, cryo.mounts.MountsRecord, cryo.ipc.IpcLimitsRecord,
        cryo.files.EventLoopRecord,
        cryo.files.TimerfdRecord,
        cryo.files.SignalfdRecord,
        cryo.timers.PosixTimerRecord,
        cryo.files.InotifyWatchRecord,
        cryo.sockets.SocketRecord,
        cryo.netlock.NetLockRecord,
        cryo.inet.UdpRecord,
        cryo.inet.TcpRecord,
        cryo.tty.TerminalRecord,
        cryo.task.JobStopRecord,
        cryo.tty.TtyRecord,
        cryo.precopy.PreCopyRecord {

    RecordType type();

    /** Writes the body (for a PayloadRecord: the fields before the data, which the writer streams itself). */
    void encode(Encoder e);
}
