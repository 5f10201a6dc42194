package cryo.image;

import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertEquals;

class Crc32cTest {
    private static int crc(byte[] b, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(b, off, len);
        return (int) c.getValue();
    }

    @Test
    void combiningPiecesGivesTheCrcOfTheWhole() {
        Random r = new Random(42);
        byte[] data = new byte[100_000];
        r.nextBytes(data);
        int whole = crc(data, 0, data.length);
        for (int cut : new int[]{0, 1, 7, 4096, 50_000, 99_999, 100_000}) {
            int a = crc(data, 0, cut), b = crc(data, cut, data.length - cut);
            assertEquals(whole, Crc32c.combine(a, b, data.length - cut), "cut at " + cut);
        }
    }
}
