package cryo.image;

/**
 * HEAD: what the image needs from the machine that restores it. vdsoSize and vdsoSha256: the vdso of the
 * kernel that took it (cryo.memory.Vdso); 0 and empty in an image of a cryo from before they were recorded.
 */
public record Head(int version, String arch, String kernelRelease, int pageSize, int xstateSize, long xfeatures,
                   long timeMillis, long flags, int vdsoSize, byte[] vdsoSha256) implements ImageRecord {
    public static final byte[] MAGIC = {'C', 'R', 'Y', 'O', 'I', 'M', 'G', '1'};
    /** 2: PAGES and SHM_PAGES carry the CRC32C of their data, which the TAIL checksum leaves out. */
    public static final int VERSION = 2;

    public RecordType type() {
        return RecordType.HEAD;
    }

    public void encode(Encoder e) {
        e.u32(version).u32(pageSize).u32(xstateSize).u32(vdsoSize).u64(xfeatures).u64(timeMillis).u64(flags)
                .str(arch).str(kernelRelease).bytes(vdsoSha256);
    }

    static Head decode(Decoder d) throws ImageException {
        int version = d.u32("version");
        if (version != VERSION) throw d.error("version", "is " + version + ", this cryo reads version " + VERSION);
        int pageSize = d.u32("page_size");
        if (pageSize != 4096) throw d.error("page_size", "is " + pageSize + ", this machine has 4096");
        int xstateSize = d.u32("xstate_size", 512 + 64, 16384);
        int vdsoSize = d.u32("vdso_size", 0, 1 << 20);
        if (vdsoSize % 4096 != 0) throw d.error("vdso_size", "is " + vdsoSize + ", not a whole number of pages");
        long xfeatures = d.u64("xfeatures"), time = d.u64("time"), flags = d.u64("flags");
        String arch = d.str("arch");
        if (!arch.equals("x86_64")) throw d.error("arch", "is " + arch + ", this cryo restores x86_64");
        String kernel = d.str("kernel_release");
        byte[] sha = d.more() ? d.bytes("vdso_sha256", 32) : new byte[0];   // absent before vdso_size was recorded
        if (sha.length != (vdsoSize == 0 ? 0 : 32)) throw d.error("vdso_sha256", "is " + sha.length + " bytes with a vdso_size of " + vdsoSize);
        return new Head(version, arch, kernel, pageSize, xstateSize, xfeatures, time, flags, vdsoSize, sha);
    }
}
