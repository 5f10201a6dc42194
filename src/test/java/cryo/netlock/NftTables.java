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
 * name, every one that appeared during it (never a flush: other sessions share these tables). A table that
 * appeared is the test's when its owner (the pid in its name) is this JVM or a process that is gone; a
 * table of a cryo still running belongs to another session.
 */
final class NftTables implements BeforeEachCallback, AfterEachCallback {
    private static final Pattern TABLE = Pattern.compile("(?m)^table inet (cryo-lock-[0-9-]+)$");
    private Set<String> before = Set.of();

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
            return owner != ProcessHandle.current().pid() && ProcessHandle.of(owner).isPresent();
        });
        return now;
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        before = list();
    }

    @Override
    public void afterEach(ExtensionContext context) {
        for (String t : left()) {
            System.out.println("[cleanup] deleting nftables table inet " + t);
            try {
                nft("delete", "table", "inet", t);
            } catch (AssertionError e) {
                System.out.println("[cleanup] " + e.getMessage());
            }
        }
    }
}
