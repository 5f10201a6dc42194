package cryo.tty;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The terminal of a shell job, on real ptys the tests make (python3's pty module): a program in a mode of its
 * own (no canonical input, no echo, ^G as interrupt character) is checkpointed from outside and restarted by
 * `cryo restart` typed in the same shell: it gets its modes back and a SIGWINCH, ^Z and fg keep each side's
 * modes, and the shell gets its own modes back (stty -g the same). A terminal the tree does not control is
 * refused. A program that led the session of its terminal gets cryo's terminal as its controlling terminal
 * where cryo leads that terminal's session, and is refused where a shell's session has it.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ShellJobTerminalTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    /**
     * Runs its arguments (default: an interactive bash) on a new pty, as its session leader with the pty as
     * controlling terminal; prints SHELL pid and OTHER /dev/pts/N (a second pty it holds and drains), and the
     * command TTY /dev/pts/M (its pty) first; relays
     * stdin lines to the pty ("<SUSP>" as ^Z, "<BEL>" as ^G, "<KEY c>" as c alone) and the pty's output,
     * without \r, to stdout.
     */
    static final String DRIVER = """
            import os, pty, select, sys
            other_master, other_slave = pty.openpty()
            other = os.ttyname(other_slave)
            cmd = sys.argv[1:] or ["bash", "--norc", "--noprofile", "-i"]
            pid, fd = pty.fork()
            if pid == 0:
                os.environ["PS1"] = "$ "
                os.write(1, b"TTY %s\\n" % os.ttyname(0).encode())
                os.execvp(cmd[0], cmd)
            os.write(1, b"SHELL %d\\nOTHER %s\\n" % (pid, other.encode()))
            inp = sys.stdin.fileno()
            while True:
                r, _, _ = select.select([fd, inp, other_master], [], [])
                if other_master in r:
                    try:
                        os.read(other_master, 4096)
                    except OSError:
                        pass
                if fd in r:
                    try:
                        data = os.read(fd, 4096)
                    except OSError:
                        break
                    if not data:
                        break
                    os.write(1, data.replace(b"\\r", b""))
                if inp in r:
                    data = os.read(inp, 4096)
                    if not data:
                        break
                    for line in data.split(b"\\n")[:-1]:
                        if line == b"<SUSP>":
                            line = b"\\x1a"
                        elif line == b"<BEL>":
                            line = b"\\x07"
                        elif line.startswith(b"<KEY "):
                            line = line[5:-1]
                        else:
                            line += b"\\n"
                        os.write(fd, line)
            os.close(fd)
            _, st = os.waitpid(pid, 0)
            sys.exit(os.waitstatus_to_exitcode(st) & 0xff)
            """;

    /**
     * Sets -icanon -echo and ^G as VINTR, never puts them back; reads keys: m prints its modes, q ends, others
     * GOT hex. SIGWINCH prints WINCH.
     */
    static final String RAW = """
            import os, signal, termios
            a = termios.tcgetattr(0)
            a[3] &= ~(termios.ICANON | termios.ECHO)
            a[6][termios.VINTR] = b"\\x07"
            a[6][termios.VMIN] = 1
            a[6][termios.VTIME] = 0
            termios.tcsetattr(0, termios.TCSANOW, a)
            signal.signal(signal.SIGWINCH, lambda s, f: os.write(1, b"WINCH\\r\\n"))
            os.write(1, b"READY %d\\r\\n" % os.getpid())
            while True:
                c = os.read(0, 1)
                if not c or c == b"q":
                    break
                if c == b"m":
                    os.write(1, b"MODES " + repr(termios.tcgetattr(0)).encode() + b"\\r\\n")
                else:
                    os.write(1, b"GOT " + c.hex().encode() + b"\\r\\n")
            os.write(1, b"BYE\\r\\n")
            """;

    private Path py;

    @BeforeEach
    void files() throws IOException {
        Fixtures.assumeRoot();
        Fixtures.assumeTool("bash");
        Fixtures.assumeTool("setsid");
        py = Fixtures.python();
        Files.writeString(tmp.resolve("driver.py"), DRIVER);
        Files.writeString(tmp.resolve("raw.py"), RAW);
    }

    private Proc driver(String name, String... command) {
        List<String> cmd = new ArrayList<>(List.of(py.toString(), tmp.resolve("driver.py").toString()));
        cmd.addAll(List.of(command));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        Cryo.environment(pb, Map.of());
        Proc d = cleanup.start(name, pb);
        long child = after(d.await("SHELL", l -> l.startsWith("SHELL ")), "SHELL ");
        cleanup.foreign(child, Instant.now(), "the command on the pty of " + name);
        others.put(d, d.await("OTHER", l -> l.startsWith("OTHER ")).substring(6).trim());
        ptys.put(d, d.await("TTY", l -> l.startsWith("TTY ")).substring(4).trim());
        return d;
    }

    /** Each driver's second pty (OTHER) and its command's (TTY). */
    private final Map<Proc, String> others = new java.util.HashMap<>(), ptys = new java.util.HashMap<>();

    static long after(String line, String key) {
        return Long.parseLong(line.substring(line.indexOf(key) + key.length()).trim().split(" ")[0]);
    }

    private String modes(Proc term) {
        term.send("<KEY m>");
        String l = term.await("MODES", s -> s.contains("MODES "));
        return l.substring(l.indexOf("MODES "));
    }

    private int status(Proc shell, String command) {
        shell.send(command + "; echo S\"\"TATUS $?");   // the echo of the typed line has no "STATUS "
        return (int) after(shell.await("STATUS", s -> s.contains("STATUS ")), "STATUS ");
    }

    private long startRaw(Proc shell) {
        Instant t0 = Instant.now();
        shell.send(py + " " + tmp.resolve("raw.py"));
        long pid = after(shell.await("READY", l -> l.contains("READY ")), "READY ");
        cleanup.foreign(pid, t0, "the raw-mode program");
        return pid;
    }

    /** Fields of /proc/PID/stat after the comm: index 0 is field 3 (state). */
    static String[] stat(long pid) {
        try {
            String s = Procfs.read(Path.of("/proc/" + pid + "/stat"));
            return s.substring(s.lastIndexOf(')') + 2).split(" ");
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void theJobGetsItsModesBackAndTheShellItsOwn() throws IOException {
        Proc shell = driver("pty");
        assertEquals(0, status(shell, "stty -g > " + tmp.resolve("before")));
        long raw = startRaw(shell);
        String modes = modes(shell);
        assertTrue(modes.contains("MODES "), modes);
        Path image = tmp.resolve("raw.img");
        Cryo.checkpoint(cleanup, raw, image);
        Procfs.awaitGone(raw, Timeouts.EXIT);
        String show = Cryo.run(cleanup, "show", image.toString()).assertOk().stdout();
        assertTrue(show.contains("TERMINAL") && show.contains("echo=false canonical=false intr=7") && show.contains("foreground=true"), show);

        // cryo's stderr is a file: the job's fds that were the terminal are the terminal still
        shell.send(Cryo.bin() + " restart " + image + " 2> " + tmp.resolve("log"));
        shell.await("WINCH", l -> l.contains("WINCH"));   // sent at handover: the job redraws
        String pty = ptys.get(shell);
        for (int fd = 0; fd <= 2; fd++) assertEquals(pty, Files.readSymbolicLink(Path.of("/proc/" + raw + "/fd/" + fd)).toString(), "fd " + fd);
        assertEquals(modes, modes(shell), "the job's modes come back exactly");
        shell.send("<KEY x>");
        shell.await("GOT 78", l -> l.contains("GOT 78"));   // one key, no newline needed: not canonical

        shell.send("<SUSP>");
        shell.await("Stopped", l -> l.contains("Stopped"));
        assertEquals('T', Procfs.state(raw), "the job stopped with cryo");
        assertEquals(0, status(shell, "stty -g > " + tmp.resolve("stopped")));
        assertEquals(Files.readString(tmp.resolve("before")), Files.readString(tmp.resolve("stopped")), "the shell's modes while the job is stopped");
        shell.send("fg");
        assertEquals(modes, modes(shell), "the job's modes again after fg");

        shell.send("<KEY q>");
        shell.await("BYE", l -> l.contains("BYE"));
        Procfs.awaitGone(raw, Timeouts.EXIT);
        assertEquals(0, status(shell, "stty -g > " + tmp.resolve("after")));
        assertEquals(Files.readString(tmp.resolve("before")), Files.readString(tmp.resolve("after")), "cryo gave its shell's modes back");
        shell.send("exit 0");
        assertEquals(0, shell.awaitExit(Timeouts.EXIT));
    }

    @Test
    void aTerminalTheTreeDoesNotControlIsRefused() {
        Proc shell = driver("pty");
        String other = others.get(shell);
        Instant t0 = Instant.now();
        shell.send("sleep 1000 > " + other + " & echo P\"\"ID $!");
        long sleep = after(shell.await("PID", l -> l.contains("PID ")), "PID ");
        cleanup.foreign(sleep, t0, "sleep writing to another terminal");
        Cryo.Result r = Cryo.run(cleanup, "checkpoint", Long.toString(sleep), "-o", tmp.resolve("img").toString());
        assertNotEquals(0, r.exit());
        List<String> lines = r.stderrLines();
        assertEquals(1, lines.size(), r.stderr());
        assertTrue(lines.getFirst().contains("task " + sleep + ": (sleep) fd 1 is " + other + ", a terminal the tree does not control"), r.stderr());
        assertFalse(Files.exists(tmp.resolve("img")));
        assertEquals('S', Procfs.state(sleep), "the tree runs on");
    }

    @Test
    void aSessionLeaderGetsCryosTerminalWhereCryoLeadsItsSession() throws IOException {
        // The program is the pty's session leader, as a terminal window's command is.
        Proc first = driver("leader", py.toString(), tmp.resolve("raw.py").toString());
        long raw = after(first.await("READY", l -> l.contains("READY ")), "READY ");
        cleanup.foreign(raw, Instant.now(), "the session leader");
        assertEquals(Long.toString(raw), stat(raw)[3], "it leads its session");
        String modes = modes(first);
        Path image = tmp.resolve("leader.img");
        Cryo.checkpoint(cleanup, raw, image);
        Procfs.awaitGone(raw, Timeouts.EXIT);
        first.awaitExit(Timeouts.EXIT);
        assertTrue(Cryo.run(cleanup, "show", image.toString()).assertOk().stdout().contains("root_leads_session=true"));

        // From a shell: cryo's terminal is the shell's session's.
        Proc shell = driver("pty");
        shell.send(Cryo.bin() + " restart " + image + "; echo S\"\"TATUS $?");
        String line = shell.await("cryo:", l -> l.contains("cryo: ") || l.contains("STATUS "));
        assertTrue(line.contains("cryo: task " + raw + " led the session whose controlling terminal was"), line + "\n" + shell.tails());
        assertEquals(1, after(shell.await("STATUS", l -> l.contains("STATUS ")), "STATUS "));
        assertFalse(Procfs.exists(raw), "nothing was restored");
        shell.send("exit 0");
        assertEquals(0, shell.awaitExit(Timeouts.EXIT));

        // Without a controlling terminal: back without one, with a warning.
        Cryo.Result d = Cryo.run(cleanup, Map.of(), List.of("setsid", "-w"), null, "restart", "-d", image.toString());
        cleanup.foreign(raw, Instant.now(), "the restored leader");
        d.assertOk();
        assertTrue(d.stderr().contains("warning: task " + raw + " led the session whose controlling terminal was"), d.stderr());
        // (its stdin is cryo's, /dev/null: it reads EOF and ends)
        ProcessHandle.of(raw).ifPresent(ProcessHandle::destroyForcibly);
        Subreaper.reap(List.of(raw));
        Procfs.awaitGone(raw, Timeouts.EXIT);

        // As the command of a terminal of its own (tmux new-window 'cryo restart IMG'): the terminal is the leader's.
        Proc window = driver("window", Cryo.bin().toString(), "restart", image.toString());
        String pty = ptys.get(window);
        window.await("WINCH", l -> l.contains("WINCH"));
        String[] st = stat(raw);
        assertEquals(Long.toString(raw), st[3], "it leads its session again");
        assertEquals(Files.getAttribute(Path.of(pty), "unix:rdev").toString(), st[4], "its controlling terminal is the window's " + pty);
        assertEquals(Long.toString(raw), st[5], "its group is the terminal's foreground");
        assertEquals(modes, modes(window), "the terminal has its modes");
        window.send("<BEL>");   // its VINTR
        window.await("KeyboardInterrupt", l -> l.contains("KeyboardInterrupt"));
        Procfs.awaitGone(raw, Timeouts.EXIT);
        assertNotEquals(0, window.awaitExit(Timeouts.EXIT));
    }

    @Test
    void anInvalidTermiosIsOneLineAndNothingIsLeft() throws IOException {
        Proc shell = driver("pty");
        long raw = startRaw(shell);
        Path image = tmp.resolve("raw.img"), bad = tmp.resolve("bad.img");
        Cryo.checkpoint(cleanup, raw, image);
        Procfs.awaitGone(raw, Timeouts.EXIT);
        TerminalPatch.lflag(image, bad, 0x40000000);
        for (String cmd : List.of("show", "restart")) {
            Cryo.Result r = cmd.equals("show") ? Cryo.run(cleanup, "show", bad.toString()) : Cryo.restartExpectingFailure(cleanup, bad, raw);
            assertNotEquals(0, r.exit());
            assertEquals(1, r.stderrLines().size(), r.stderr());
            assertTrue(r.stderr().contains("TERMINAL") && r.stderr().contains("termios.c_lflag") && r.stderr().contains("unknown bits"), r.stderr());
        }
        assertFalse(Procfs.exists(raw), "nothing was restored");
        shell.send("exit 0");
        assertEquals(0, shell.awaitExit(Timeouts.EXIT));
    }
}
