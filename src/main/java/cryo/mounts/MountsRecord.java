package cryo.mounts;

import cryo.image.ImageRecord;

/** The records of a container's mount namespace: MOUNT, MOUNT_GONE, TMPFS_FILE and TMPFS_DATA. */
public sealed interface MountsRecord extends ImageRecord permits MountRecord, MountGoneRecord, TmpfsFileRecord, TmpfsDataRecord {
}
