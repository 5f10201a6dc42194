package cryo.ns;

import cryo.sys.Fd;
import cryo.sys.OwnThread;
import cryo.sys.Proc;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** The kinds of namespace a task has (namespaces(7)): its /proc/PID/ns/ link and its CLONE_NEW* flag. */
public enum Namespace {
    PID("pid", 0x20000000), IPC("ipc", 0x08000000), UTS("uts", 0x04000000), MNT("mnt", 0x00020000),
    NET("net", 0x40000000), USER("user", 0x10000000), CGROUP("cgroup", 0x02000000), TIME("time", 0x00000080);

    /** The name of its link in /proc/PID/ns/. */
    public final String proc;
    /** Its CLONE_NEW* flag (clone(2)), also its setns(2) nstype and its bit in a NAMESPACES record. */
    public final int cloneFlag;

    Namespace(String proc, int cloneFlag) {
        this.proc = proc;
        this.cloneFlag = cloneFlag;
    }

    /** "pid:[4026531836]": which namespace of this kind pid is in (pid 0: cryo); null when this kernel has none. */
    public String of(int pid) throws IOException {
        Path link = Path.of(pid == 0 ? "/proc/self/ns/" + proc : "/proc/" + pid + "/ns/" + proc);
        if (!Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return null;
        return Files.readSymbolicLink(link).toString();
    }

    /** True when pid is in another namespace of this kind than cryo. */
    public boolean differsFromCryo(int pid) throws IOException {
        String mine = of(0);
        return mine != null && !mine.equals(of(pid));
    }

    /**
     * Runs work on a platform thread of its own that first enters this namespace of pid: setns(2) moves only
     * the calling thread, and what the work then calls (uname, socket, msgget) acts in that namespace.
     */
    public <T> T run(int pid, Callable<T> work) throws Exception {
        return OwnThread.call("cryo-" + proc + "-ns", () -> {
            int fd = Fd.open("/proc/" + pid + "/ns/" + proc, Fd.O_RDONLY);
            try {
                Proc.setns(fd, cloneFlag);
            } finally {
                Fd.close(fd);
            }
            return work.call();
        });
    }
}
