package cryo.tty;

import cryo.image.ImageRecord;

import java.util.Map;

/**
 * The records of pseudo-terminal pairs inside the tree: PTY (a pair, by its master's description), PTY_SLAVE
 * (a description of its slave), PTY_DATA (bytes waiting in one direction) and CTTY (a session's controlling
 * terminal that is such a pair's slave).
 */
public sealed interface TtyRecord extends ImageRecord permits PtyRecord, PtySlaveRecord, PtyDataRecord, CttyRecord {
    /** What `cryo show` prints. */
    Map<String, Object> fields();
}
