package cryo.apps;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import cryo.testing.Fixtures;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** What the real-program tests share: finding the program (or skipping), and reading numbered lines across a restart. */
final class Programs {
    private Programs() {}

    /** The program on PATH; skips the test with the reason printed when it is not installed (.ci/run installs it). */
    static Path need(String tool, String apt) {
        Optional<Path> p = Fixtures.onPath(tool);
        if (p.isEmpty()) System.out.println("SKIPPED: " + tool + " is not installed (apt-get install " + apt + ")");
        assumeTrue(p.isPresent(), tool + " is not installed (apt-get install " + apt + ")");
        return p.get();
    }

    /**
     * The numbers of the lines "PREFIX n END" a program printed before the checkpoint (on the first stream, read to
     * its end) and after the restart (on the restart's stream), checked to count 1, 2, 3... without a gap or a
     * repeat and to go on after the restart. The checkpoint may fall inside a line (between two writes, or before
     * its newline): then the last piece of the first stream and the first piece of the second are that one line.
     */
    static void assertCountsOnWithoutGap(String prefix, List<String> before, List<String> after) {
        Pattern line = Pattern.compile(Pattern.quote(prefix) + " (\\d+) END");
        List<String> joined = new ArrayList<>(before);
        if (!before.isEmpty() && !after.isEmpty() && !line.matcher(before.getLast()).matches()
                && !line.matcher(after.getFirst()).matches()) {
            joined.set(joined.size() - 1, before.getLast() + after.getFirst());
            joined.addAll(after.subList(1, after.size()));
        } else {
            joined.addAll(after);
        }
        long expect = 1;
        long last = 0;
        for (String l : joined) {
            if (!l.startsWith(prefix + " ")) continue;
            Matcher m = line.matcher(l);
            if (!m.matches()) throw new AssertionError("a broken '" + prefix + "' line '" + l + "' around " + expect + "\n" + seam(before, after));
            long n = Long.parseLong(m.group(1));
            if (n != expect) throw new AssertionError("'" + prefix + "' counted " + n + " where " + expect + " was due\n" + seam(before, after));
            last = n;
            expect++;
        }
        long afterCount = after.stream().filter(l -> line.matcher(l).matches()).count();
        assertFalse(afterCount == 0, () -> "no '" + prefix + "' line after the restart\n" + seam(before, after));
        System.out.println("[Programs] " + prefix + " counted 1.." + last + " without a gap, " + afterCount + " after the restart");
    }

    /** The largest n of the complete lines "PREFIX n END", or 0. */
    static long lastNumber(String prefix, List<String> lines) {
        Pattern line = Pattern.compile(Pattern.quote(prefix) + " (\\d+) END");
        return lines.stream().map(line::matcher).filter(Matcher::matches).mapToLong(m -> Long.parseLong(m.group(1))).max().orElse(0);
    }

    private static String seam(List<String> before, List<String> after) {
        return "last lines before the checkpoint: " + before.subList(Math.max(0, before.size() - 5), before.size())
                + "\nfirst lines after the restart: " + after.subList(0, Math.min(5, after.size()));
    }

    /** Lines starting with FAIL (the programs check themselves and say so). */
    static List<String> fails(List<String> lines) {
        return lines.stream().filter(l -> l.startsWith("FAIL")).toList();
    }
}
