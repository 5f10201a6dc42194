package cryo.image;

/**
 * CRC32C of a stream from the CRCs of its pieces, so that pieces can be checksummed on other threads, in
 * any order: crc(A·B) = combine(crc(A), crc(B), |B|). The GF(2) matrix method of zlib's crc32_combine(),
 * with the Castagnoli polynomial.
 */
public final class Crc32c {
    private static final int POLY = 0x82F63B78;   // reflected Castagnoli polynomial

    private Crc32c() {
    }

    /** CRC32C of the bytes of s. */
    public static int of(java.lang.foreign.MemorySegment s) {
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(s.asByteBuffer());
        return (int) crc.getValue();
    }

    public static int combine(int crc1, int crc2, long len2) {
        if (len2 <= 0) return crc1;
        int[] even = new int[32], odd = new int[32];
        odd[0] = POLY;                              // the operator for one zero bit
        int row = 1;
        for (int n = 1; n < 32; n++) {
            odd[n] = row;
            row <<= 1;
        }
        square(even, odd);                          // two zero bits
        square(odd, even);                          // four zero bits
        do {                                        // apply len2 zero bytes to crc1
            square(even, odd);
            if ((len2 & 1) != 0) crc1 = times(even, crc1);
            len2 >>>= 1;
            if (len2 == 0) break;
            square(odd, even);
            if ((len2 & 1) != 0) crc1 = times(odd, crc1);
            len2 >>>= 1;
        } while (len2 != 0);
        return crc1 ^ crc2;
    }

    private static int times(int[] mat, int vec) {
        int sum = 0;
        for (int i = 0; vec != 0; i++, vec >>>= 1) {
            if ((vec & 1) != 0) sum ^= mat[i];
        }
        return sum;
    }

    private static void square(int[] square, int[] mat) {
        for (int n = 0; n < 32; n++) square[n] = times(mat, mat[n]);
    }
}
