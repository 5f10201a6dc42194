package cryo.netlock;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The nft(8) command of Debian's nftables: each call is one process, a script on stdin is one atomic
 * transaction (nft -f -: all of it or nothing). Every call has a timeout. The JDK reaps these children itself:
 * they are never traced.
 */
final class Nft {
    private static final List<String> PLACES = List.of("/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/bin/nft");
    private static final long TIMEOUT_SECONDS = 30;

    /** What nft said when it failed: its status and first line of stderr. */
    static final class Failed extends IOException {
        final String stderr;

        Failed(String what, int status, String stderr) {
            super("nft " + what + " failed (status " + status + "): " + firstLine(stderr));
            this.stderr = stderr;
        }

        /** The table or chain it named does not exist. */
        boolean noSuchObject() {
            return stderr.contains("No such file or directory");
        }
    }

    private final String path;

    private Nft(String path) {
        this.path = path;
    }

    /** The installed nft, or null. */
    static Nft find() {
        for (String p : PLACES) if (Files.isExecutable(Path.of(p))) return new Nft(p);
        String env = System.getenv("PATH");
        if (env != null) {
            for (String dir : env.split(":")) {
                if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "nft"))) return new Nft(Path.of(dir, "nft").toString());
            }
        }
        return null;
    }

    /** Runs one transaction from a script. */
    void script(String what, String script) throws IOException {
        run(what, script, "-f", "-");
    }

    /** Runs nft with these arguments; returns its stdout. */
    String run(String what, String stdin, String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(path);
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        if (stdin == null) pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Process p = pb.start();
        var out = drain(p.getInputStream(), "stdout");
        var err = drain(p.getErrorStream(), "stderr");
        try {
            if (stdin != null) {
                try (OutputStream in = p.getOutputStream()) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            }
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                throw new IOException("nft " + what + " did not finish in " + TIMEOUT_SECONDS + " s");
            }
            out.join();
            err.join();
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("nft " + what + ": interrupted");
        }
        if (p.exitValue() != 0) throw new Failed(what, p.exitValue(), text(err));
        return text(out);
    }

    private static final class Drain extends Thread {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private final InputStream in;

        Drain(InputStream in, String name) {
            super("cryo-nft-" + name);
            this.in = in;
            setDaemon(true);
        }

        @Override
        public void run() {
            try (in) {
                in.transferTo(bytes);
            } catch (IOException e) {
                // the process died: what was read is what there is
            }
        }
    }

    private static Drain drain(InputStream in, String name) {
        Drain d = new Drain(in, name);
        d.start();
        return d;
    }

    private static String text(Drain d) {
        return d.bytes.toString(StandardCharsets.UTF_8);
    }

    /** The line with nft's "Error:", or the first. */
    private static String firstLine(String s) {
        List<String> lines = s.strip().lines().toList();
        for (String l : lines) if (l.contains("Error")) return l.strip();
        return lines.isEmpty() ? "(no message)" : lines.getFirst();
    }
}
