package cryo.mounts;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.RecordType;

/** MOUNT_GONE: a mount the namespace had from its creator and the container unmounted: {str mount_point}. */
public record MountGoneRecord(String mountPoint) implements MountsRecord {
    public RecordType type() {
        return RecordType.MOUNT_GONE;
    }

    public void encode(Encoder e) {
        e.str(mountPoint);
    }

    public static MountGoneRecord decode(Decoder d) throws ImageException {
        String mp = d.str("mount_point");
        if (!MountPaths.absolute(mp) || mp.equals("/")) throw d.error("mount_point", "'" + mp + "' is not a normal absolute path other than /");
        return new MountGoneRecord(mp);
    }
}
