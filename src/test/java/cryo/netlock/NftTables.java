package cryo.netlock;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The cryo lock tables of this machine's nftables, for tests: lists them, and after each test deletes, by
 * name, every one the test registered and every one that appeared during it and is the test's (never a
 * flush: other sessions share these tables). One that appeared is the test's when its owner (the pid in its
 * name) is this JVM, or is gone and the table is not held: a held table of a cryo gone may be another
 * session's image waiting for its restart, and a table of a cryo still running is another session's.
 */
final class NftTables implements BeforeEachCallback, AfterEachCallback {
    private static final Pattern TABLE = Pattern.compile("(?m)^table inet (cryo-lock-[0-9-]+)$");
    private Set<String> before = Set.of();
    private final Set<String> registered = new HashSet<>();

    /** A table the test made or expects cryo to make: deleted after the test if still there. */
    void register(String table) {
        registered.add(table);
    }

    static String nft(String... args) {
        List<String> cmd = new ArrayList<>(List.of("nft"));
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            p.getOutputStream().close();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("nft " + cmd + " did not finish");
            }
            String text = new String(out, StandardCharsets.UTF_8);
            if (p.exitValue() != 0) throw new AssertionError(cmd + " failed: " + text);
            return text;
        } catch (IOException | InterruptedException e) {
            throw new AssertionError(cmd + ": " + e, e);
        }
    }

    static Set<String> list() {
        Set<String> tables = new HashSet<>();
        Matcher m = TABLE.matcher(nft("list", "tables", "inet"));
        while (m.find()) tables.add(m.group(1));
        return tables;
    }

    static boolean exists(String table) {
        return list().contains(table);
    }

    /** Tables that appeared since the test began and whose owner is this JVM or gone. */
    Set<String> left() {
        Set<String> now = list();
        now.removeAll(before);
        now.removeIf(t -> {
            long owner = Long.parseLong(t.split("-")[2]);
            if (owner == ProcessHandle.current().pid()) return false;
            if (ProcessHandle.of(owner).isPresent()) return true;
            try {
                return nft("list", "table", "inet", t).contains("chain held");
            } catch (AssertionError e) {
                return true;   // gone meanwhile
            }
        });
        return now;
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        before = list();
    }

    @Override
    public void afterEach(ExtensionContext context) {
        Set<String> mine = left();
        mine.addAll(registered);
        mine.retainAll(list());
        registered.clear();
        for (String t : mine) {
            System.out.println("[cleanup] deleting nftables table inet " + t);
            try {
                nft("delete", "table", "inet", t);
            } catch (AssertionError e) {
                System.out.println("[cleanup] " + e.getMessage());
            }
        }
    }
}
