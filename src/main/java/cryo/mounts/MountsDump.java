package cryo.mounts;

import cryo.image.ImageWriter;

import java.io.IOException;
import java.util.List;

/**
 * What checkpoint found in a container's mount namespace: the mounts to make again in order (with the files
 * of each tmpfs, whose data are read when written), and the mounts of its creator that it unmounted.
 */
public final class MountsDump {
    /** A mount, and for a tmpfs its entries. */
    record Item(MountRecord mount, List<TmpfsContents.Entry> entries) {
    }

    private final List<Item> items;
    private final List<MountGoneRecord> gone;

    MountsDump(List<Item> items, List<MountGoneRecord> gone) {
        this.items = List.copyOf(items);
        this.gone = List.copyOf(gone);
    }

    public List<MountRecord> mounts() {
        return items.stream().map(Item::mount).toList();
    }

    public List<MountGoneRecord> gone() {
        return gone;
    }

    /** The entries of a tmpfs mount (for tests and show). */
    public List<TmpfsFileRecord> files(int mount) {
        for (Item i : items) if (i.mount().id() == mount) return i.entries().stream().map(TmpfsContents.Entry::record).toList();
        return List.of();
    }

    public boolean isEmpty() {
        return items.isEmpty() && gone.isEmpty();
    }

    /** Writes the records: the ROOT, the MOUNT_GONEs, then each mount with its tmpfs files and their data. */
    public void write(ImageWriter w) throws IOException {
        int at = 0;
        if (!items.isEmpty() && items.getFirst().mount().kind() == MountRecord.Kind.ROOT) w.write(items.get(at++).mount());
        for (MountGoneRecord g : gone) w.write(g);
        for (Item i : items.subList(at, items.size())) {
            w.write(i.mount());
            for (TmpfsContents.Entry e : i.entries()) TmpfsContents.write(e, w);
        }
    }
}
