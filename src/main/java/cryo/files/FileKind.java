package cryo.files;

import cryo.image.Refusal;
import cryo.sys.SysException;

import java.io.IOException;
import java.util.Set;

/**
 * One kind of open file, both halves, as the kernel series keeps pipe_file_checkpoint() beside
 * pipe_file_restore() and restores files through restore_file_ops[] (CRIU: one fdtype_ops per kind): what
 * checkpoint records of an fd of this kind, and what restart creates in cryo for the fd broker to hand to
 * every task that holds it. Every kind is registered in {@link FileKinds}; the fd-table walk in
 * {@link OpenFiles} only classifies each fd and dispatches.
 */
public interface FileKind {
    /** The OPEN_FILE kinds whose descriptions this class restores. */
    Set<OpenFileRecord.Kind> kinds();

    /** Checkpoint: true if this class takes the fd (asked in FileKinds' order, first taker wins). */
    boolean takes(FdContext c) throws IOException;

    /** Checkpoint: the description of the fd, or a refusal naming it. */
    OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException;

    /** Restart: the restore half for one restart; it creates each description of this kind once, in cryo. */
    Restorer restorer(RestoreContext c);

    /** Creates descriptions of one kind in cryo during one restart, and lets go of them at the end. */
    interface Restorer {
        /** cryo's fd of a new description d (the broker dups it into the tasks). */
        int open(OpenFileRecord d) throws SysException;

        /** Once every task is restored and every fd installed, before cryo closes its own fds. */
        default void finish() throws SysException {
        }

        /** Closes cryo's own fds of this kind (idempotent). */
        void close();
    }
}
