package cryo.image;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * ImageFuzzTest's target for the standalone Jazzer driver (bench/fuzz.sh): the same check, after loading
 * (and so instrumenting) every class of cryo first, so that the first inputs do not spend Jazzer's
 * per-input timeout in class loading.
 */
public final class ImageFuzzer {
    private ImageFuzzer() {
    }

    public static void fuzzerInitialize() throws IOException, java.net.URISyntaxException {
        Path classes = Path.of(ImageReader.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        try (Stream<Path> files = Files.walk(classes.resolve("cryo"))) {
            for (Path f : files.filter(f -> f.toString().endsWith(".class")).toList()) {
                String name = classes.relativize(f).toString().replace('/', '.').replaceFirst("\\.class$", "");
                try {
                    Class.forName(name, false, ImageFuzzer.class.getClassLoader());
                } catch (ClassNotFoundException | LinkageError e) {
                    // not needed by the reader
                }
            }
        }
        ImageFuzzTest.check(new byte[0]);
    }

    public static void fuzzerTestOneInput(byte[] input) {
        ImageFuzzTest.check(input);
    }
}
