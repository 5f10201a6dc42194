package cryo.apps;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
        Pattern line = pattern(prefix);
        List<String> joined = new ArrayList<>(before);
        if (!before.isEmpty() && !after.isEmpty() && !line.matcher(before.getLast()).matches()
                && !line.matcher(after.getFirst()).matches()) {
            joined.set(joined.size() - 1, before.getLast() + after.getFirst());
            joined.addAll(after.subList(1, after.size()));
        } else {
            joined.addAll(after);
        }
        long[] range = assertCountsByOne(prefix, joined, seam(before, after));
        assertEquals(1, range[0], () -> "'" + prefix + "' starts at 1\n" + seam(before, after));
        long afterCount = after.stream().filter(l -> line.matcher(l).matches()).count();
        assertFalse(afterCount == 0, () -> "no '" + prefix + "' line after the restart\n" + seam(before, after));
        System.out.println("[Programs] " + prefix + " counted 1.." + range[1] + " without a gap, " + afterCount + " after the restart");
    }

    /**
     * Checks that the complete lines "PREFIX n END" among these count on by one, and returns the first and last n
     * ({0, 0} when there is none). Other lines are skipped, and so is a piece of a line that does not start with
     * PREFIX (the first line of a restored program's stream may be the end of a line whose start its original wrote).
     */
    static long[] assertCountsByOne(String prefix, List<String> lines, String context) {
        Pattern line = pattern(prefix);
        long first = 0;
        long last = 0;
        for (String l : lines) {
            if (!l.startsWith(prefix + " ")) continue;
            Matcher m = line.matcher(l);
            if (!m.matches()) throw new AssertionError("a broken '" + prefix + "' line '" + l + "' after " + last + "\n" + context);
            long n = Long.parseLong(m.group(1));
            if (first != 0 && n != last + 1)
                throw new AssertionError("'" + prefix + "' counted " + n + " after " + last + "\n" + context);
            if (first == 0) first = n;
            last = n;
        }
        return new long[] {first, last};
    }

    private static Pattern pattern(String prefix) {
        return Pattern.compile(Pattern.quote(prefix) + " (\\d+) END");
    }

    /** The largest n of the complete lines "PREFIX n END", or 0. */
    static long lastNumber(String prefix, List<String> lines) {
        Pattern line = pattern(prefix);
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
