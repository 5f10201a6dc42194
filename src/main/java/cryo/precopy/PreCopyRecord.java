package cryo.precopy;

import cryo.image.ImageRecord;

import java.util.Map;

/** The records of a pre-copy checkpoint that carry no page data (PreCopyPagesRecord carries them). */
public sealed interface PreCopyRecord extends ImageRecord permits PreCopyRoundRecord, PreCopyValidRecord {
    /** The fields cryo show prints. */
    Map<String, Object> fields();
}
