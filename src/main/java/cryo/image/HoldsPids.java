package cryo.image;

import java.util.function.IntUnaryOperator;

/**
 * A record that names tasks by pid. cryo reads and freezes a tree by host pids; the image holds the pids the
 * tasks have in their own pid namespace (a container's), so the writer renumbers every such record on its
 * way out (ImageWriter.pids). For a plain tree both are the same and nothing changes.
 */
public interface HoldsPids {
    /** This record with every pid p it holds replaced by toImage(p) (0 for a task the namespace cannot see). */
    ImageRecord withPids(IntUnaryOperator toImage);
}
