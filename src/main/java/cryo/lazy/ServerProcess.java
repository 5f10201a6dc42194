package cryo.lazy;

import cryo.memory.PagesRecord;
import cryo.sys.Errno;
import cryo.sys.EventPoll;
import cryo.sys.Fd;
import cryo.sys.Proc;
import cryo.sys.ScmRights;
import cryo.sys.Spawn;
import cryo.sys.SysException;
import cryo.sys.Wait;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The server of `restart -d --lazy`: cryo's own JVM started again (`__lazy-server`) in a session of its own,
 * early, so that it is up when the tree is ready. It gets over a Unix socket (SCM_RIGHTS) an fd of the image
 * file (/proc/self/map_files of cryo's mapping: a file or the memfd a stream was staged in), a memfd with the
 * pending ranges and the tasks to guard, and the userfaultfds; it seizes the tree and answers one message, then
 * cryo exits. pidfd_getfd already gave cryo the only reference to each userfaultfd; SCM_RIGHTS hands it on.
 */
public final class ServerProcess {
    static final String COMMAND = "__lazy-server";
    private static final long AWAIT_MS = 60_000;

    final int pid;
    private final int sock;

    private ServerProcess(int pid, int sock) {
        this.pid = pid;
        this.sock = sock;
    }

    /**
     * Starts the server process, first thing in `restart -d --lazy`, so that its JVM starts while cryo reads and
     * restores; CRYO_LAZY_HOLD (tests) is passed on as "hold". It exits by itself if cryo goes away first.
     */
    public static ServerProcess spawn() throws SysException, IOException {
        List<String> argv = new ArrayList<>(Arrays.asList(new String(Files.readAllBytes(Path.of("/proc/self/cmdline")), StandardCharsets.UTF_8).split("\0")));
        int main = argv.indexOf("cryo/cryo.cli.Main");
        if (main < 0) throw new IOException("lazy restart: cannot tell how to start cryo's JVM again from /proc/self/cmdline");
        argv.subList(main + 1, argv.size()).clear();
        int[] pair = ScmRights.seqpacketPair();
        argv.add(COMMAND);
        argv.add(Integer.toString(pair[1]));
        argv.add(Integer.toString(Proc.getpid()));
        if (System.getenv("CRYO_LAZY_HOLD") != null) argv.add("hold");
        if (System.getenv("CRYO_DEBUG") != null) argv.add("debug");   // keeps its stderr
        String java = Files.readSymbolicLink(Path.of("/proc/self/exe")).toString();
        try {
            return new ServerProcess(Spawn.spawn(java, argv.toArray(String[]::new), pair[1]), pair[0]);
        } finally {
            Fd.close(pair[1]);
        }
    }

    /** Sends the image, the state and the userfaultfds. */
    void handOver(MemorySegment image, List<Space> spaces, List<Integer> tids) throws SysException, IOException {
        long end = image.address() + ((image.byteSize() + 4095) & ~4095L);
        int imageFd = Fd.open("/proc/self/map_files/" + Long.toHexString(image.address()) + "-" + Long.toHexString(end), Fd.O_RDONLY);
        int stateFd = Fd.memfd("cryo-lazy-state");
        try {
            StringBuilder sb = new StringBuilder();
            sb.append("size ").append(image.byteSize()).append('\n');
            for (int tid : tids) sb.append("task ").append(tid).append('\n');
            for (int i = 0; i < spaces.size(); i++) {
                Space s = spaces.get(i);
                s.lock.lock();
                try {
                    sb.append("space ").append(s.name.replace(' ', '_')).append('\n');
                    for (Space.Piece p : s.pieces()) {
                        PagesRecord r = p.record();
                        cryo.image.PayloadRecord c = r.checked();   // the record whose CRC covers r's data
                        sb.append("piece ").append(i).append(' ').append(p.start()).append(' ').append(p.end()).append(' ')
                                .append(r.data().address() - image.address()).append(' ').append(r.data().byteSize()).append(' ')
                                .append(r.crc()).append(' ').append(r.pid()).append(' ').append(r.addr()).append(' ').append(p.off()).append(' ')
                                .append(c.data().address() - image.address()).append(' ').append(c.data().byteSize()).append(' ')
                                .append(c.crc()).append('\n');
                    }
                } finally {
                    s.lock.unlock();
                }
            }
            Files.writeString(Path.of("/proc/self/fd/" + stateFd), sb, StandardCharsets.US_ASCII);
            ScmRights.send(sock, imageFd);
            ScmRights.send(sock, stateFd);
            for (Space s : spaces) ScmRights.send(sock, s.uffd);
        } finally {
            Fd.close(imageFd);
            Fd.close(stateFd);
        }
    }

    /**
     * Tells the server that cryo has let the tree go (it can seize it now: before, its PTRACE_SEIZE would fail
     * on tasks cryo traces) and waits for its word that it traces the whole tree; fails if it died first.
     */
    void awaitSeized() throws SysException, IOException {
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            Fd.writeFully(sock, a.allocate(1), "socket to the lazy page server");
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(AWAIT_MS);
        while ((EventPoll.readiness(sock) & (EventPoll.EPOLLIN | EventPoll.EPOLLHUP | EventPoll.EPOLLERR)) == 0) {
            if (System.nanoTime() > deadline) throw new IOException("lazy restart: the page server did not take over within " + AWAIT_MS + " ms");
            java.util.concurrent.locks.LockSupport.parkNanos(200_000);
        }
        if (ScmRights.recv(sock) == -1) throw new IOException("lazy restart: the page server died before it took over");
        Fd.close(sock);
    }

    /** Kills and reaps it (a restart that failed, or had nothing lazy). */
    public void kill() {
        try {
            Proc.kill(pid, Proc.SIGKILL);
            Wait.waitFor(pid, 10_000);
        } catch (SysException e) {
            if (e.errno() != Errno.ESRCH && e.errno() != Errno.ECHILD) return;
        }
        Fd.close(sock);
    }
}
