package cryo.memory;

import cryo.sys.ProcFile;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The code of this kernel's vdso: its size and SHA-256. A restored process gets the vdso of the kernel that
 * restores it (ARCH_MAP_VDSO_64), not the image's, while its libc keeps the addresses of vdso functions it
 * looked up at start: a vdso of other code would be called at the wrong places. The vdso is the same for
 * every 64-bit process of a kernel (arch/x86/entry/vdso/vma.c maps one image), so cryo reads its own.
 */
public record Vdso(int size, byte[] sha256) {
    /** The vdso of this kernel; size 0 when there is none (vdso=0). */
    public static Vdso ofThisKernel() throws IOException {
        for (String line : ProcFile.read("/proc/self/maps").split("\n")) {
            if (!line.endsWith("[vdso]")) continue;
            int dash = line.indexOf('-'), sp = line.indexOf(' ');
            long start = Long.parseUnsignedLong(line, 0, dash, 16), end = Long.parseUnsignedLong(line, dash + 1, sp, 16);
            ByteBuffer code = ByteBuffer.allocate((int) (end - start));
            try (FileChannel mem = FileChannel.open(Path.of("/proc/self/mem"), StandardOpenOption.READ)) {
                while (code.hasRemaining()) {
                    if (mem.read(code, start + code.position()) <= 0) throw new IOException("/proc/self/mem: short read of the vdso");
                }
            }
            return new Vdso(code.capacity(), sha256(code.array()));
        }
        return new Vdso(0, new byte[0]);
    }

    private static byte[] sha256(byte[] b) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(b);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public boolean same(int otherSize, byte[] otherSha256) {
        return size == otherSize && java.util.Arrays.equals(sha256, otherSha256);
    }

    /** "8192 bytes sha256 ab12cd34ef56..." */
    public static String describe(int size, byte[] sha256) {
        return size + " bytes sha256 " + HexFormat.of().formatHex(sha256, 0, Math.min(8, sha256.length)) + "..";
    }
}
