package cryo.lazy;

import cryo.memory.PagesRecord;
import cryo.sys.Fd;
import cryo.sys.ScmRights;
import cryo.sys.SysException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The main of `cryo __lazy-server FD LABEL` (ServerProcess): takes over the userfaultfds of a `restart -d
 * --lazy`, seizes the tree (Guard), tells cryo, serves until the last page is in, lets the tree go and exits.
 * It has no terminal: its own session, fds 0-2 on /dev/null (stderr kept with CRYO_DEBUG).
 */
public final class LazyServer {
    private LazyServer() {
    }

    /** args: the socket's fd, the pid of the cryo that started it, "hold" (CRYO_LAZY_HOLD), "debug" (CRYO_DEBUG). */
    public static int run(List<String> args) throws SysException, IOException {
        int sock = Integer.parseInt(args.getFirst());
        cryo.sys.Proc.setsid();
        int nul = Fd.open("/dev/null", Fd.O_RDWR);
        for (int fd = 0; fd <= (args.contains("debug") ? 1 : 2); fd++) cryo.sys.EventPoll.dup3(nul, fd);
        Fd.close(nul);
        int imageFd = ScmRights.recv(sock);
        int stateFd = ScmRights.recv(sock);
        if (imageFd < 0 || stateFd < 0) return 1;     // cryo gave up: nothing to serve
        List<String> state = Files.readAllLines(Path.of("/proc/self/fd/" + stateFd));
        Fd.close(stateFd);
        long size = 0;
        List<Integer> tids = new ArrayList<>();
        List<String> names = new ArrayList<>();
        List<List<Space.Piece>> pieces = new ArrayList<>();
        List<String[]> pieceLines = new ArrayList<>();
        for (String line : state) {
            String[] w = line.split(" ");
            switch (w[0]) {
                case "size" -> size = Long.parseLong(w[1]);
                case "task" -> tids.add(Integer.parseInt(w[1]));
                case "space" -> {
                    names.add(w[1].replace('_', ' '));
                    pieces.add(new ArrayList<>());
                }
                case "piece" -> pieceLines.add(w);
                default -> throw new IOException("lazy server: bad state line '" + line + "'");
            }
        }
        MemorySegment image;
        try (FileChannel ch = FileChannel.open(Path.of("/proc/self/fd/" + imageFd), StandardOpenOption.READ)) {
            image = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, Arena.global());
        }
        Fd.close(imageFd);
        Map<Long, PagesRecord> records = new HashMap<>(), checked = new HashMap<>();
        for (String[] w : pieceLines) {
            long off = Long.parseLong(w[4]), checkedOff = Long.parseLong(w[10]);
            int pid = Integer.parseInt(w[7]);
            // a piece of a pre-copied record is checked by the CRC of that whole record, its source (also the
            // first piece, which starts where its source does but is shorter)
            boolean whole = checkedOff == off && w[11].equals(w[5]);
            PagesRecord source = whole ? null : checked.computeIfAbsent(checkedOff, o -> new PagesRecord(pid, 0,
                    Integer.parseInt(w[12]), image.asSlice(o, Long.parseLong(w[11]))));
            PagesRecord r = records.computeIfAbsent(off, o -> new PagesRecord(pid, Long.parseLong(w[8]),
                    Integer.parseInt(w[6]), image.asSlice(o, Long.parseLong(w[5])), source));
            pieces.get(Integer.parseInt(w[1])).add(new Space.Piece(Long.parseLong(w[2]), Long.parseLong(w[3]), r, Long.parseLong(w[9])));
        }
        PageServer server = new PageServer(null, line -> System.err.println("cryo: " + line));
        for (int i = 0; i < names.size(); i++) {
            int uffd = ScmRights.recv(sock);
            if (uffd < 0) return 1;
            server.add(uffd, names.get(i), pieces.get(i));
        }
        // cryo lets the tree go, then says so (or dies: its tracees it had not let go die with it, EXITKILL)
        ScmRights.recv(sock);
        Guard guard = new Guard();
        try {
            guard.seize(tids);
        } catch (SysException e) {
            guard.killAll();
            throw e;
        }
        try (Arena a = Arena.ofConfined()) {
            Fd.writeFully(sock, a.allocate(1), "socket to cryo");
        }
        Fd.close(sock);
        server.startFill(args.contains("hold"));
        try {
            guard.run(server::finished, () -> server.failure() != null);
        } finally {
            server.close();
        }
        return server.failure() == null ? 0 : 1;
    }
}
