package cryo.cli;

import cryo.checkpoint.Checkpoint;
import cryo.checkpoint.Output;
import cryo.image.Image;
import cryo.image.ImageException;
import cryo.image.ImageReader;
import cryo.image.Refusal;
import cryo.restart.Restart;
import cryo.sys.SysException;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

/** The command line: parses arguments, runs one command, turns every failure into one line and exit 1. */
public final class Main {
    static final String USAGE = """
            usage: cryo <command> [options]      (cryo --version, cryo --help)

            commands:
              checkpoint PID -o FILE [--leave-running] [--allow-leaks] [--ipc all|ID,...] [--external pipe:[INODE]|unix:INODE]...
                             [--ghost-limit SIZE] [--pre-copy[=ROUNDS]] [--output-timeout SECONDS]
                                                          freeze the tree under PID (every descendant and thread) and
                                                          write its image (FILE '-' = stdout); the tree is killed
                                                          after, or resumes with --leave-running. --allow-leaks accepts
                                                          an open file shared with a process outside the tree (the
                                                          restored tree gets its own copy of it). SysV IPC: a tree in
                                                          its own IPC namespace takes all of it; otherwise the shm
                                                          segments it has attached, plus --ipc all (every object of
                                                          the namespace) or --ipc ID,... (msg:ID, sem:ID, shm:ID).
                                                          --external accepts a pipe (or FIFO, socket, tty) that leads
                                                          outside the tree at any fd; --external unix:INODE a Unix
                                                          socket connected outside, connected again at restart to
                                                          its peer's name. Deleted and O_TMPFILE files
                                                          are saved with their contents; --ghost-limit refuses one
                                                          larger than SIZE (bytes, or 512K, 64M, 2G). --pre-copy copies
                                                          private anonymous memory while the tree runs (up to ROUNDS
                                                          rounds, default 4, tracking writes with userfaultfd) and
                                                          freezes it only to copy what was written since.
                                                          The image is mode 0600: a new file, a file it replaces, and
                                                          stdout when that is a regular file (`-o - > img`: cryo
                                                          fchmods it to 0600 before writing). Into a pipe (-o -) the
                                                          image counts as written once its reader has taken every
                                                          byte; a reader that goes away first, or takes nothing for
                                                          --output-timeout SECONDS (default 30), fails the checkpoint
                                                          and the tree runs on. A full or read-only file system is
                                                          an error naming the path; no partial image is left
              restart FILE [-d] [--lazy] [--new-ipc-namespace] [--inherit-fd FD:pipe:[INODE]]... [--ghost-dir DIR]
                           [--fresh-pid-ns] [--stage DIR] [--input-timeout SECONDS]
                                                          bring the tree back with its pids (FILE '-' = stdin; FILE
                                                          may be a FIFO); cryo
                                                          stays the root's parent and exits with its status, -d
                                                          detaches and prints the root pid. --new-ipc-namespace puts
                                                          the tree and its IPC objects in a new IPC namespace;
                                                          --inherit-fd gives cryo's fd FD to every task that held the
                                                          external description (CRIU's --inherit-fd). --ghost-dir
                                                          recreates a deleted file whose directory is gone in DIR.
                                                          --fresh-pid-ns (a tree whose pids are taken here): new pid
                                                          and mount namespaces (own /proc) with the same pids inside,
                                                          under an init that passes SIGHUP/INT/TERM on to the root and
                                                          exits as the root did; -d prints the init's pid.
                                                          An image on stdin is staged as it arrives in memory (a
                                                          memfd), or with --stage DIR in an unlinked file (0600) in
                                                          DIR; it is read whole, up to its TAIL record, before
                                                          anything is created: a stream cut short creates nothing.
                                                          A stream that brings no byte for --input-timeout SECONDS
                                                          (default 30; a FIFO no writer opens, too) is an error.
                                                          --lazy: the tree runs before its private anonymous memory
                                                          is in; those pages come on first touch (userfaultfd) and
                                                          from a background fill, served by cryo (with -d: by a
                                                          cryo process of its own, which exits after the last
                                                          page). The tree stays traced meanwhile: if the serving
                                                          cryo dies, the kernel kills the whole tree (never a tree
                                                          with missing memory)
              run [--hostname NAME] [--net] [--root DIR] [-d] -- CMD [ARGS...]
                                                          start CMD as pid 1 of new pid, mount, UTS and IPC (--net:
                                                          and network) namespaces with its own /proc; see cryo run --help
              show FILE [--json]                          print the image record by record
              check                                       test that this kernel and user have what cryo needs

            checkpoint and restart need CAP_SYS_PTRACE, restart also CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE
            (run them as root); without them cryo stops at once with a line naming what is missing. `cryo show`
            needs no privilege. Every failure is one line on stderr and exit status 1 (2: a usage error).

            environment: CRYO_TIMING=1 prints timings on stderr.
            """;

    private Main() {
    }

    public static void main(String[] args) {
        cryo.checkpoint.Timings.begin();
        cryo.sys.Proc.linkInBackground(args.length > 0 && (args[0].equals("restart") || args[0].equals("run")));
        PrintStream err = System.err;
        int status;
        try {
            status = run(args);
        } catch (Usage u) {
            err.println("cryo: " + u.getMessage() + " (see cryo --help)");
            status = 2;
        } catch (Refusal r) {
            // every reason found, one line each, then what it amounts to
            for (String reason : r.reasons()) err.println("cryo: " + reason);
            if (r.reasons().size() > 1) err.println("cryo: checkpoint refused for the " + r.reasons().size() + " reasons above; the tree runs on as before");
            if (System.getenv("CRYO_DEBUG") != null) r.printStackTrace();
            status = 1;
        } catch (cryo.checkpoint.Output.OutputException | Privileges.Missing e) {
            err.println("cryo: " + e.getMessage());
            status = 1;
        } catch (ImageException | SysException e) {
            err.println("cryo: " + e.getMessage());
            if (System.getenv("CRYO_DEBUG") != null) e.printStackTrace();
            status = 1;
        } catch (IOException e) {
            err.println("cryo: I/O error: " + e.getMessage());
            status = 1;
        } catch (Throwable t) {
            err.println("cryo: internal error: " + t);
            if (System.getenv("CRYO_DEBUG") != null) t.printStackTrace();
            status = 70;
        }
        System.out.flush();
        System.exit(status);
    }

    static final class Usage extends Exception {
        Usage(String m) {
            super(m);
        }
    }

    static int run(String[] args) throws Exception {
        if (args.length == 0) {
            System.err.print(USAGE);
            return 2;
        }
        if (args[0].equals("--version") || args[0].equals("-V") || args[0].equals("version")) {
            System.out.println("cryo " + version());
            return 0;
        }
        if (args[0].equals("--help") || args[0].equals("-h") || args[0].equals("help")) {
            System.out.print(USAGE);
            return 0;
        }
        List<String> rest = new ArrayList<>(List.of(args).subList(1, args.length));
        if (args[0].equals("run")) return run(rest);   // its own help; CMD's arguments are not cryo's
        if (rest.contains("--help") || rest.contains("-h")) {
            System.out.print(USAGE);
            return 0;
        }
        return switch (args[0]) {
            case "checkpoint", "dump" -> checkpoint(rest);
            case "restart", "restore" -> restart(rest);
            case "show" -> show(rest);
            case "check" -> {
                int failed = cryo.restart.KernelCheck.run(System.out);
                String refused = Privileges.checkSummary();
                if (refused != null) System.err.println("cryo: " + refused);
                yield refused != null ? 1 : failed;
            }
            case "__train" -> Train.run(single(rest, "DIR"));
            case "__lazy-server" -> cryo.lazy.LazyServer.run(rest);
            case "__sweep" -> cryo.janitor.Sweep.janitor(single(rest, "OWNER"));
            default -> throw new Usage("unknown command '" + args[0] + "'");
        };
    }

    /** The project version, put into version.txt by the build (pom.xml resource filtering). */
    static String version() throws IOException {
        try (var in = Main.class.getResourceAsStream("version.txt")) {
            return in == null ? "(unknown version)" : new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).trim();
        }
    }

    private static boolean flag(List<String> args, String... names) {
        boolean found = false;
        for (String n : names) found |= args.remove(n);
        return found;
    }

    private static String option(List<String> args, String name) throws Usage {
        int i = args.indexOf(name);
        if (i < 0) return null;
        if (i + 1 >= args.size()) throw new Usage(name + " needs a value");
        String v = args.get(i + 1);
        args.remove(i + 1);
        args.remove(i);
        return v;
    }

    private static String single(List<String> args, String what) throws Usage {
        for (String a : args) if (a.startsWith("-") && !a.equals("-")) throw new Usage("unknown option '" + a + "'");
        if (args.size() != 1) throw new Usage(args.isEmpty() ? "missing " + what : "too many arguments: " + args);
        return args.getFirst();
    }

    private static void log(String line) {
        cryo.memory.Progress.erase();
        System.err.println("cryo: " + line);
    }

    /** A size in bytes: digits with an optional K, M or G (powers of 1024). */
    static long size(String arg, String option) throws Usage {
        var m = java.util.regex.Pattern.compile("(\\d{1,15})([KMG]?)").matcher(arg.toUpperCase());
        if (!m.matches()) throw new Usage(option + " takes a size like 1048576, 512K, 64M or 2G, not '" + arg + "'");
        int shift = switch (m.group(2)) {
            case "K" -> 10;
            case "M" -> 20;
            case "G" -> 30;
            default -> 0;
        };
        return Long.parseLong(m.group(1)) << shift;
    }

    /** A timeout option in whole seconds (1 to 86400), or its default. */
    private static long seconds(List<String> args, String option, long otherwise) throws Usage {
        String v = option(args, option);
        if (v == null) return otherwise;
        if (!v.matches("[1-9][0-9]{0,4}") || Long.parseLong(v) > 86400) throw new Usage(option + " takes seconds from 1 to 86400, not '" + v + "'");
        return Long.parseLong(v);
    }

    private static void timing(String name, long nanos) {
        cryo.checkpoint.Timings.span(name, nanos);
    }

    private static int checkpoint(List<String> args) throws Exception {
        long t0 = System.nanoTime();
        boolean leave = flag(args, "--leave-running", "-R");
        boolean allowLeaks = flag(args, "--allow-leaks");
        int preCopy = preCopyRounds(args);
        java.util.Set<String> external = new java.util.HashSet<>();
        for (String e; (e = option(args, "--external")) != null; ) external.add(e);
        String ipcArg = option(args, "--ipc");
        cryo.ipc.Ipc.Selection ipc = ipcArg == null ? cryo.ipc.Ipc.Selection.NONE
                : ipcArg.equals("all") ? new cryo.ipc.Ipc.Selection(true, java.util.Set.of())
                : new cryo.ipc.Ipc.Selection(false, java.util.Set.of(ipcArg.toLowerCase().split(",")));
        for (String id : ipc.ids()) {
            if (!id.matches("((msg|sem|shm):)?\\d+")) throw new Usage("--ipc takes all or IDs like 5, msg:5, sem:3, shm:7, not '" + id + "'");
        }
        String out = option(args, "-o");
        if (out == null) out = option(args, "--output");
        if (out == null) throw new Usage("checkpoint needs -o FILE");
        if (out.isEmpty()) throw new Usage("-o needs a file name, or - for stdout");
        String limitArg = option(args, "--ghost-limit");
        long ghostLimit = limitArg == null ? Long.MAX_VALUE : size(limitArg, "--ghost-limit");
        long outputTimeout = seconds(args, "--output-timeout", cryo.checkpoint.Output.DEFAULT_STALL_SECONDS);
        String pidArg = single(args, "PID");
        int pid;
        try {
            pid = Integer.parseInt(pidArg);
        } catch (NumberFormatException e) {
            throw new Usage("'" + pidArg + "' is not a pid");
        }
        Privileges.require("checkpoint");
        Checkpoint.Result r;
        cryo.memory.Progress.start("checkpoint");
        try {
            r = Checkpoint.run(pid, new Checkpoint.Options(leave, allowLeaks, ipc, external, System.getenv("CRYO_FAULT"), Main::log, ghostLimit), Output.of(out, outputTimeout), preCopy);
        } finally {
            cryo.memory.Progress.finish();
        }
        timing("frozen", r.frozenNanos());
        timing("total", System.nanoTime() - t0);
        if (System.getenv("CRYO_TIMING") != null) log("image " + r.bytes() + " bytes, " + r.pageBytes() + " bytes of pages");
        return 0;
    }

    /** --pre-copy[=ROUNDS]: 0 without it. */
    private static int preCopyRounds(List<String> args) throws Usage {
        for (String a : List.copyOf(args)) {
            if (!a.equals("--pre-copy") && !a.startsWith("--pre-copy=")) continue;
            args.remove(a);
            if (a.equals("--pre-copy")) return cryo.precopy.PreCopy.DEFAULT_ROUNDS;
            String n = a.substring("--pre-copy=".length());
            if (!n.matches("[1-9][0-9]{0,2}")) throw new Usage("--pre-copy=ROUNDS takes a number of rounds from 1 to 999, not '" + n + "'");
            return Integer.parseInt(n);
        }
        return 0;
    }

    private static int restart(List<String> args) throws Exception {
        long t0 = System.nanoTime();
        boolean detach = flag(args, "-d", "--detach");
        boolean newIpc = flag(args, "--new-ipc-namespace");
        boolean freshPidNs = flag(args, "--fresh-pid-ns");
        boolean lazy = flag(args, "--lazy");
        java.util.Map<String, Integer> inherit = new java.util.HashMap<>();
        for (String m; (m = option(args, "--inherit-fd")) != null; ) {
            int colon = m.indexOf(':');
            try {
                inherit.put(m.substring(colon + 1), Integer.parseInt(m.substring(0, Math.max(colon, 0))));
            } catch (NumberFormatException e) {
                throw new Usage("--inherit-fd takes FD:DESCRIPTION, e.g. 5:pipe:[1234], not '" + m + "'");
            }
            if (colon < 0) throw new Usage("--inherit-fd takes FD:DESCRIPTION, e.g. 5:pipe:[1234], not '" + m + "'");
        }
        String ghostDir = option(args, "--ghost-dir");
        if (ghostDir != null && !java.nio.file.Files.isDirectory(java.nio.file.Path.of(ghostDir))) throw new Usage("--ghost-dir " + ghostDir + " is not a directory");
        String stage = option(args, "--stage");
        if (stage != null && !java.nio.file.Files.isDirectory(java.nio.file.Path.of(stage))) throw new Usage("--stage " + stage + " is not a directory");
        long inputTimeout = seconds(args, "--input-timeout", ImageReader.DEFAULT_INPUT_TIMEOUT);
        String file = single(args, "FILE");
        if (stage != null && !file.equals("-") && java.nio.file.Files.isRegularFile(java.nio.file.Path.of(file)))
            throw new Usage("--stage is for an image read as a stream (FILE '-' or a FIFO)");
        Privileges.require("restart");
        int pid;
        cryo.sys.WaitStatus ended = null;
        // -d --lazy: the process that will serve the pages starts its JVM while this one reads and restores
        cryo.lazy.ServerProcess server = lazy && detach ? cryo.lazy.ServerProcess.spawn() : null;
        cryo.memory.Progress.start("restart");
        try (Arena arena = Arena.ofShared()) {
            var mapped = ImageReader.map(file, arena, stage == null ? null : java.nio.file.Path.of(stage), inputTimeout);
            try (var lock = cryo.netlock.LockRelease.of(mapped, Main::log)) {   // the image's network lock: lifted however the restart ends
                Image image = Restart.validate(mapped, ImageReader.Data.LATER, inherit, freshPidNs);
                cryo.checkpoint.Timings.mark("read");   // (from main: the next phase, preflight, from here)
                cryo.lazy.LazyRestart lz = lazy ? cryo.lazy.LazyRestart.prepare(image, mapped, server, Main::log) : null;
                server = null;   // lz's now
                for (Image.ProcessImage p : image.processes.values()) {
                    cryo.memory.Progress.expect(cryo.memory.PageLoad.bytes(lz == null ? p.pages : p.pages.stream().filter(r -> !lz.records().contains(r)).toList()));
                }
                try {
                    pid = Restart.run(image, new Restart.Options(newIpc, inherit, Main::log, detach, ghostDir == null ? null : java.nio.file.Path.of(ghostDir).toAbsolutePath(), freshPidNs, lz));
                } catch (Throwable e) {
                    if (lz != null) lz.abort();
                    throw e;
                }
                if (lz != null) cryo.memory.Progress.finish();   // the lazy pages are not counted
                if (lz != null && detach) System.out.println(pid);   // at once: the server process serves on
                if (lz != null && !detach) {
                    try {
                        ended = lz.finish(pid);   // foreground: serves until the last page is in
                    } catch (Throwable e) {
                        cryo.janitor.Journal.undoRestart(Main::log);   // the tree is dead: what it had goes too
                        throw e;
                    }
                    cryo.janitor.Journal.settleRestart();   // committed (Restart leaves a foreground lazy tree's to this)
                }
            }
        } finally {
            cryo.memory.Progress.finish();
            if (server != null) server.kill();   // the image could not be read
        }
        timing("total", System.nanoTime() - t0);
        if (detach) {
            if (!lazy) System.out.println(pid);
            return 0;
        }
        return ended != null ? Restart.exitStatus(ended) : Restart.waitForExit(pid);
    }

    private static int run(List<String> args) throws Exception {
        cryo.container.RunOptions o;
        try {
            o = cryo.container.RunOptions.parse(args);
        } catch (IllegalArgumentException e) {
            throw new Usage(e.getMessage());
        }
        if (o == null) {
            System.out.print(cryo.container.RunOptions.HELP);
            return 0;
        }
        try {
            return cryo.container.Run.run(o, System.out);
        } catch (cryo.container.ExecFailure e) {
            log(e.getMessage());
            return e.status();
        }
    }

    private static int show(List<String> args) throws Exception {
        boolean json = flag(args, "--json");
        String file = single(args, "FILE");
        try (Arena arena = Arena.ofShared()) {
            Show.print(ImageReader.read(ImageReader.map(file, arena)), json, System.out);
        }
        return 0;
    }
}
