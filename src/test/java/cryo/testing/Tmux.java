package cryo.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real terminal for a test: a private tmux server ({@code tmux -L cryo-test-<unique> -f /dev/null}, its socket
 * in a directory of its own) with one 120x40 pane running {@code bash --norc --noprofile -i} with a fixed prompt
 * ({@link #PROMPT}), its history in a temporary file, and an environment of its own (CRYO_CP and CRYO_JAVA_HOME
 * passed on, so the pane runs the worktree's {@code bin/cryo} by its absolute path, {@link Cryo#bin()}).
 * Keys go in with send-keys; the screen is read with capture-pane; every wait polls it with a timeout.
 *
 * <pre>{@code @RegisterExtension final Tmux pane = new Tmux();   // pane.start() in the test, after its skips}</pre>
 *
 * After each test (pass or fail) it kills, by pid, every process it saw in the pane (the pane's descendants and
 * the pids given to {@link #track}), each only if it still is that process (its start time), then the server
 * (kill-server, then its pid), and deletes its directory. It never talks to another tmux server.
 */
public final class Tmux implements AfterEachCallback {
    /** The shell's prompt (read back from the screen without its trailing blank, as every line). */
    public static final String PROMPT = "[pane]$ ";
    public static final int COLUMNS = 120, ROWS = 40;
    private static final AtomicInteger COUNT = new AtomicInteger();
    private static final Duration COMMAND = Duration.ofSeconds(30);
    private static final Pattern PROMPTS = Pattern.compile(Pattern.quote(PROMPT.strip()));

    private record Seen(ProcessHandle handle, Instant start) {}

    private final Map<Long, Seen> seen = new LinkedHashMap<>();
    private String name;
    private Path dir;
    private long serverPid;
    private long panePid;

    /** Starts the server and its pane, and waits for the shell's first prompt. */
    public Tmux start() {
        if (name != null) throw new IllegalStateException("started twice");
        name = "cryo-test-" + ProcessHandle.current().pid() + "-" + COUNT.incrementAndGet();
        try {
            dir = Files.createTempDirectory("cryo-tmux-");
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        List<String> shell = new ArrayList<>(List.of("env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                "HOME=" + dir, "TERM=screen", "LANG=C.UTF-8", "PS1=" + PROMPT, "HISTFILE=" + dir.resolve("history"),
                "CRYO_CP=" + System.getenv().getOrDefault("CRYO_CP", Cryo.root().resolve("target/classes").toString())));
        String jdk = System.getenv("CRYO_JAVA_HOME");
        if (jdk != null) shell.add("CRYO_JAVA_HOME=" + jdk);
        shell.addAll(List.of("/bin/bash", "--norc", "--noprofile", "-i"));
        List<String> cmd = new ArrayList<>(List.of("start-server", ";", "set-option", "-g", "history-limit", "100000", ";",
                "new-session", "-d", "-s", "cryo", "-x", Integer.toString(COLUMNS), "-y", Integer.toString(ROWS), "--"));
        cmd.addAll(shell);
        tmux(cmd.toArray(String[]::new));
        serverPid = Long.parseLong(tmux("display-message", "-p", "-t", "cryo:0", "#{pid}").trim());
        panePid = Long.parseLong(tmux("display-message", "-p", "-t", "cryo:0", "#{pane_pid}").trim());
        track(serverPid);
        track(panePid);
        awaitScreen("the shell's first prompt", s -> s.contains(PROMPT.strip()));
        return this;
    }

    /** The pid of the pane's shell. */
    public long shellPid() {
        return panePid;
    }

    /** The pane's terminal, e.g. /dev/pts/3. */
    public String ttyName() {
        return tmux("display-message", "-p", "-t", "cryo:0", "#{pane_tty}").trim();
    }

    /**
     * Another terminal of the same server (a second window, running sleep): a terminal the pane's programs do not
     * control. Returns its name, e.g. /dev/pts/4.
     */
    public String otherTerminal() {
        tmux("new-window", "-d", "-t", "cryo:", "-n", "other", "--", "sleep", "3600");
        track(Long.parseLong(tmux("display-message", "-p", "-t", "cryo:other", "#{pane_pid}").trim()));
        return tmux("display-message", "-p", "-t", "cryo:other", "#{pane_tty}").trim();
    }

    // ------------------------------------------------------------------ keys

    /** Types text literally (no key names), without Enter. */
    public void typeLiterally(String text) {
        tmux("send-keys", "-t", "cryo:0", "-l", text);
    }

    /** Types a line: the text literally, then Enter. */
    public void type(String line) {
        typeLiterally(line);
        keys("Enter");
    }

    /** Keys by tmux's names: C-c, C-z, C-l, Enter, Escape, or a plain letter such as G or q. */
    public void keys(String... names) {
        List<String> cmd = new ArrayList<>(List.of("send-keys", "-t", "cryo:0"));
        cmd.addAll(List.of(names));
        tmux(cmd.toArray(String[]::new));
    }

    // ------------------------------------------------------------------ screen

    /** What the pane shows now (wrapped lines joined, trailing blanks of each line and trailing empty lines cut). */
    public String screen() {
        return tidy(tmux("capture-pane", "-p", "-J", "-t", "cryo:0"));
    }

    /**
     * The scrollback and the screen (while a full-screen program has the alternate screen, only that screen: its
     * count of a text can go down).
     */
    public String everything() {
        return tidy(tmux("capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", "cryo:0"));
    }

    private static String tidy(String s) {
        StringBuilder b = new StringBuilder();
        for (String l : s.split("\n", -1)) b.append(l.stripTrailing()).append('\n');
        String t = b.toString();
        while (t.endsWith("\n\n")) t = t.substring(0, t.length() - 1);
        return t.equals("\n") ? "" : t;
    }

    /**
     * The screen line the cursor is on (a program's output ends there and the next input goes there), read in one
     * tmux command with the cursor's row.
     */
    public String cursorLine() {
        String s = tmux("display-message", "-p", "-t", "cryo:0", "#{cursor_y}", ";", "capture-pane", "-p", "-t", "cryo:0");
        int nl = s.indexOf('\n');
        int row = Integer.parseInt(s.substring(0, nl).trim());
        List<String> rows = s.substring(nl + 1).lines().toList();
        return row < rows.size() ? rows.get(row).stripTrailing() : "";
    }

    /** Waits until the cursor's line satisfies the test. */
    public String awaitCursorLine(String what, Predicate<String> test) {
        return await(what, this::cursorLine, test);
    }

    /** How often the pattern (MULTILINE: ^ and $ at each line) occurs in the scrollback and screen. */
    public int count(String regex) {
        return count(Pattern.compile(regex, Pattern.MULTILINE), everything());
    }

    public static int count(Pattern p, String text) {
        Matcher m = p.matcher(text);
        int n = 0;
        while (m.find()) n++;
        return n;
    }

    /** The number of shell prompts in the scrollback and screen. */
    public int prompts() {
        return count(PROMPTS, everything());
    }

    /** Waits until the pattern occurs at least n times in the scrollback and screen; returns them. */
    public String awaitCount(String regex, int n) {
        Pattern p = Pattern.compile(regex, Pattern.MULTILINE);
        return await("'" + regex + "' " + n + " times", this::everything, s -> count(p, s) >= n);
    }

    /** Runs the action and waits until the pattern occurs once more than before it. */
    public String expectMore(String regex, Runnable action) {
        int n = count(regex);
        action.run();
        return awaitCount(regex, n + 1);
    }

    /** Types a line and waits until the pattern (MULTILINE) occurs once more than before. */
    public String typeExpecting(String line, String regex) {
        return expectMore(regex, () -> type(line));
    }

    /** Waits until the screen (the visible part only) satisfies the test. */
    public String awaitScreen(String what, Predicate<String> test) {
        return await(what, this::screen, test);
    }

    /** Waits at most `timeout` for the screen, without failing: whether it came. */
    public boolean screenWithin(Duration timeout, Predicate<String> test) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (test.test(screen())) return true;
            Procfs.sleep(Duration.ofMillis(50));
        }
        return false;
    }

    private String await(String what, java.util.function.Supplier<String> read, Predicate<String> test) {
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (true) {
            String s = read.get();
            if (test.test(s)) return s;
            if (System.nanoTime() > deadline)
                fail("the pane did not show " + what + " within " + Timeouts.CRYO.toSeconds() + " s; it shows:\n" + s + dump());
            Procfs.sleep(Duration.ofMillis(50));
        }
    }

    /** A failure message ending with the screen and scrollback. */
    public String dump() {
        String group;
        try {
            group = Long.toString(foregroundGroup());
        } catch (AssertionError e) {
            group = e.getMessage();
        }
        return "\n--- the pane (scrollback and screen):\n" + everything() + "--- its processes (foreground group " + group
                + "):\n" + processes();
    }

    /** One line per process in the pane: pid, name, state, where it waits, its signal masks. */
    private String processes() {
        StringBuilder b = new StringBuilder();
        for (long p : paneProcesses()) {
            b.append(p);
            try {
                for (String l : Procfs.read(Path.of("/proc", Long.toString(p), "status")).split("\n"))
                    if (l.matches("(Name|State|PPid|TracerPid|SigPnd|ShdPnd|SigBlk|SigIgn|SigCgt):.*")) b.append(' ').append(l.replaceAll("\\s+", " "));
                b.append(" wchan: ").append(Procfs.read(Path.of("/proc", Long.toString(p), "wchan")));
            } catch (IOException gone) {
                b.append(" (gone)");
            }
            b.append('\n');
        }
        return b.toString();
    }

    // ------------------------------------------------------------------ processes

    /** Field 8 of /proc/PID/stat of the pane's shell: the foreground process group of the pane's terminal. */
    public long foregroundGroup() {
        try {
            String s = Procfs.read(Path.of("/proc/" + panePid + "/stat"));
            return Long.parseLong(s.substring(s.lastIndexOf(')') + 2).split(" ")[5]);
        } catch (IOException e) {
            throw new AssertionError("the pane's shell " + panePid + " is gone", e);
        }
    }

    /**
     * Waits until a job of the shell whose leader's name is `comm` (as in /proc/PID/comm) is the terminal's
     * foreground, and returns its leader's pid (tracked for cleanup).
     */
    public long awaitForeground(String comm) {
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (true) {
            long g = foregroundGroup();
            if (g != panePid && Procfs.stat(g).map(s -> s.comm().equals(comm) && s.state() != 'Z').orElse(false)) {
                track(g);
                return g;
            }
            if (System.nanoTime() > deadline)
                fail("no foreground job " + comm + " in the pane within " + Timeouts.CRYO.toSeconds() + " s (group " + g + ")" + dump());
            Procfs.sleep(Duration.ofMillis(20));
        }
    }

    /**
     * Waits until cryo restart, typed into the pane, has brought pid back: alive, no longer traced, its parent
     * not the pane's shell (it is cryo's). Fails at once if the pane shows a line of cryo's error. Returns the pid
     * of its parent (cryo restart).
     */
    public long awaitRestored(long pid) {
        long deadline = System.nanoTime() + Timeouts.CRYO.toNanos();
        while (true) {
            var st = Procfs.stat(pid);
            if (st.isPresent() && st.get().state() != 'Z' && st.get().state() != 't' && Procfs.tracerPid(pid) == 0
                    && st.get().ppid() != panePid) {
                track(pid);
                track(st.get().ppid());
                return st.get().ppid();
            }
            String s = everything();
            if (Pattern.compile("^cryo: ", Pattern.MULTILINE).matcher(s).find()) fail("cryo restart failed in the pane" + dump());
            if (System.nanoTime() > deadline) fail("pid " + pid + " was not restored within " + Timeouts.CRYO.toSeconds() + " s" + dump());
            Procfs.sleep(Duration.ofMillis(20));
        }
    }

    /** Registers a process to kill (by pid, if it still is this one) after the test, with everything in the pane. */
    public void track(long pid) {
        ProcessHandle.of(pid).ifPresent(h -> h.info().startInstant().ifPresent(t -> {
            synchronized (seen) {
                seen.putIfAbsent(pid, new Seen(h, t));
            }
        }));
    }

    /** The pane's shell and all its descendants now. */
    public List<Long> paneProcesses() {
        return descendants(panePid);
    }

    /** A process and all its descendants now (through /proc/PID/task/TID/children). */
    public static List<Long> descendants(long pid) {
        List<Long> all = new ArrayList<>(List.of(pid));
        for (int i = 0; i < all.size(); i++) {
            try (var tasks = Files.list(Path.of("/proc", Long.toString(all.get(i)), "task"))) {
                for (Path t : tasks.toList()) {
                    String c = Procfs.read(t.resolve("children")).trim();
                    if (!c.isEmpty()) for (String x : c.split("\\s+")) all.add(Long.parseLong(x));
                }
            } catch (IOException | java.io.UncheckedIOException gone) {
                // exited meanwhile
            }
        }
        return all;
    }

    // ------------------------------------------------------------------ tmux itself

    /** Runs `tmux -L NAME -f /dev/null ARGS` against this test's server and returns its stdout. */
    public String tmux(String... args) {
        List<String> cmd = new ArrayList<>(List.of("tmux", "-L", name, "-f", "/dev/null"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().remove("TMUX");
        pb.environment().put("TMUX_TMPDIR", dir.toString());
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        try {
            Process p = pb.start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(COMMAND.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                fail("`" + String.join(" ", cmd) + "` did not finish within " + COMMAND.toSeconds() + " s");
            }
            String s = new String(out, StandardCharsets.UTF_8);
            if (p.exitValue() != 0) fail("`" + String.join(" ", cmd) + "` exited " + p.exitValue() + ": " + s);
            return s;
        } catch (IOException e) {
            throw new AssertionError("cannot run tmux: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    @Override
    public void afterEach(ExtensionContext context) {
        close();
    }

    /** Kills everything it saw in the pane and the server, by pid; removes the socket's directory. */
    public void close() {
        if (name == null) return;
        for (long p : paneProcesses()) track(p);
        try {
            System.out.println("[tmux] the pane at the end of the test:\n" + everything());
        } catch (AssertionError e) {
            System.out.println("[tmux] cannot read the pane: " + e.getMessage());
        }
        try {
            tmux("kill-server");
        } catch (AssertionError e) {
            System.out.println("[tmux] kill-server: " + e.getMessage());
        }
        List<ProcessHandle> killed = new ArrayList<>();
        synchronized (seen) {
            for (Seen s : seen.values()) {
                ProcessHandle h = s.handle();
                if (h.isAlive() && h.info().startInstant().map(s.start()::equals).orElse(false)) {
                    h.destroyForcibly();
                    killed.add(h);
                }
            }
            seen.clear();
        }
        long deadline = System.nanoTime() + Timeouts.EXIT.toNanos();
        for (ProcessHandle h : killed)
            while (Procfs.alive(h.pid()) && System.nanoTime() < deadline) Procfs.sleep(Duration.ofMillis(20));
        Cleanup.deleteRecursively(dir);
        name = null;
    }
}
