package cryo.container;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * What `cryo run` was asked for. hostname null: the host's name is kept (copied into the new UTS namespace);
 * root null: the container sees the host's file systems (in a mount namespace of its own) and starts in the
 * caller's cwd, as with unshare(1); with a root it starts in "/" of that root, as with docker.
 */
public record RunOptions(String hostname, boolean net, Path root, boolean detach, List<String> command) {
    /** HOST_NAME_MAX (include/uapi/linux/utsname.h __NEW_UTS_LEN). */
    private static final int HOST_NAME_MAX = 64;

    public static final String HELP = """
            usage: cryo run [--hostname NAME] [--net] [--root DIR] [-d] -- CMD [ARGS...]

            Starts CMD as pid 1 of new pid, IPC, UTS and mount namespaces, with a /proc of its own mounted on
            /proc. Mounts made inside do not propagate to the host (the container's mounts are private).

              --hostname NAME   the container's host name (default: a copy of the host's)
              --net             a new network namespace too, holding only the loopback interface, up
              --root DIR        DIR becomes the container's / (pivot_root; the host's tree is detached);
                                DIR needs a proc directory. CMD is looked up in the container's PATH
                                directories inside DIR and starts in /. Without --root CMD starts in the
                                caller's current directory.
              -d, --detach      print the container init's pid (on the host) and return; the container
                                runs on in a session of its own, with /dev/null as stdin, stdout and stderr
              -h, --help        this page

            CMD gets cryo's environment, stdin, stdout and stderr (with -d: /dev/null) and no other open file. In the foreground cryo
            waits for it and exits with its status (128+N if it was killed by signal N). As pid 1 of its
            namespace, CMD receives only the signals it has a handler for (SIGKILL from the host always works).
            Exit status 127: CMD not found; 126: CMD found but not executable; 2: bad arguments; 1: another error.
            """;

    public RunOptions {
        command = List.copyOf(command);
    }

    /**
     * Parses the arguments after `run`: options, then CMD and its arguments (after "--", or from the first
     * argument that is not an option). Returns null when help is asked for; throws IllegalArgumentException
     * with a one-line reason for bad arguments.
     */
    public static RunOptions parse(List<String> args) {
        String hostname = null;
        boolean net = false, detach = false;
        Path root = null;
        int i = 0;
        for (; i < args.size(); i++) {
            String a = args.get(i);
            if (a.equals("--")) {
                i++;
                break;
            }
            if (!a.startsWith("-")) break;
            switch (a) {
                case "-h", "--help" -> {
                    return null;
                }
                case "--net" -> net = true;
                case "-d", "--detach" -> detach = true;
                case "--hostname" -> hostname = value(args, i++, a);
                case "--root" -> root = Path.of(value(args, i++, a));
                default -> throw new IllegalArgumentException("run: unknown option '" + a + "'");
            }
        }
        List<String> command = args.subList(i, args.size());
        if (command.isEmpty()) throw new IllegalArgumentException("run needs a command: cryo run [OPTIONS] -- CMD [ARGS...]");
        if (command.getFirst().isEmpty()) throw new IllegalArgumentException("run: the command is an empty string");
        if (hostname != null && (hostname.isEmpty() || hostname.getBytes(StandardCharsets.UTF_8).length > HOST_NAME_MAX || hostname.contains("\0"))) {
            throw new IllegalArgumentException("--hostname takes a name of 1 to " + HOST_NAME_MAX + " characters, not '" + hostname + "'");
        }
        if (root != null) {
            if (!Files.isDirectory(root)) throw new IllegalArgumentException("--root " + root + " is not a directory");
            try {
                root = root.toRealPath();   // the host's view of it: the container's symlinks would mislead
            } catch (IOException e) {
                throw new IllegalArgumentException("--root " + root + ": " + e.getMessage());
            }
            if (root.getNameCount() == 0) throw new IllegalArgumentException("--root " + root + " is the host's root already: leave --root out");
            if (!Files.isDirectory(root.resolve("proc"))) throw new IllegalArgumentException("--root " + root + " has no proc directory to mount /proc on");
        }
        return new RunOptions(hostname, net, root, detach, command);
    }

    private static String value(List<String> args, int i, String option) {
        if (i + 1 >= args.size()) throw new IllegalArgumentException(option + " needs a value");
        return args.get(i + 1);
    }
}
