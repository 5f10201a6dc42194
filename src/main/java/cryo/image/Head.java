package cryo.image;

/** HEAD: what the image needs from the machine that restores it. */
public record Head(int version, String arch, String kernelRelease, int pageSize, int xstateSize, long xfeatures,
                   long timeMillis, long flags) implements ImageRecord {
    public static final byte[] MAGIC = {'C', 'R', 'Y', 'O', 'I', 'M', 'G', '1'};
    /** 2: PAGES and SHM_PAGES carry the CRC32C of their data, which the TAIL checksum leaves out. */
    public static final int VERSION = 2;

    public RecordType type() {
        return RecordType.HEAD;
    }

    public void encode(Encoder e) {
        e.u32(version).u32(pageSize).u32(xstateSize).u32(0).u64(xfeatures).u64(timeMillis).u64(flags)
                .str(arch).str(kernelRelease);
    }

    static Head decode(Decoder d) throws ImageException {
        int version = d.u32("version");
        if (version != VERSION) throw d.error("version", "is " + version + ", this cryo reads version " + VERSION);
        int pageSize = d.u32("page_size");
        if (pageSize != 4096) throw d.error("page_size", "is " + pageSize + ", this machine has 4096");
        int xstateSize = d.u32("xstate_size", 512 + 64, 16384);
        d.u32("pad");
        long xfeatures = d.u64("xfeatures"), time = d.u64("time"), flags = d.u64("flags");
        String arch = d.str("arch");
        if (!arch.equals("x86_64")) throw d.error("arch", "is " + arch + ", this cryo restores x86_64");
        return new Head(version, arch, d.str("kernel_release"), pageSize, xstateSize, xfeatures, time, flags);
    }
}
