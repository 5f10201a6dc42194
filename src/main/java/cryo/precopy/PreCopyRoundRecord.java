package cryo.precopy;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * PRECOPY_ROUND: {u32 round}, the start of one round of pages copied while the tree ran (PRECOPY_PAGES
 * records follow). Rounds are numbered from 0 and come before HEAD; a later round's copy of a page overrides
 * an earlier one.
 */
public record PreCopyRoundRecord(int round) implements PreCopyRecord {
    public static final int MAX_ROUNDS = 1000;

    public RecordType type() {
        return RecordType.PRECOPY_ROUND;
    }

    public void encode(Encoder e) {
        e.u32(round);
    }

    public static PreCopyRoundRecord decode(Decoder d) throws ImageException {
        return new PreCopyRoundRecord(d.u32("round", 0, MAX_ROUNDS - 1));
    }

    public Map<String, Object> fields() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("round", round);
        return m;
    }
}
