package cryo.container;

import cryo.remote.Tracee;
import cryo.sys.Nr;
import cryo.sys.ProcFile;
import cryo.sys.SysException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * What the container's init does to its fresh namespaces before it execs the command, by remote syscalls
 * (each failure names its step): private mounts, host name, the new root, /proc, loopback, signals and fds.
 */
final class Setup {
    private static final long MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_BIND = 4096, MS_REC = 16384,
            MS_PRIVATE = 1 << 18;
    private static final int MNT_DETACH = 2;
    private static final int AF_INET = 2, SOCK_DGRAM = 2, SOCK_CLOEXEC = 0x80000;
    /** include/uapi/linux/sockios.h; struct ifreq is 40 bytes: ifr_name[16], then ifr_flags (a short). */
    private static final int SIOCGIFFLAGS = 0x8913, SIOCSIFFLAGS = 0x8914, IFREQ_SIZE = 40;
    private static final short IFF_UP = 1, IFF_RUNNING = 0x40;

    private final Tracee t;

    Setup(Tracee init) {
        this.t = init;
    }

    /** Runs every step for the options in the container's init, up to (not including) the exec. */
    void apply(RunOptions o) throws SysException, IOException {
        // Mount events must not propagate to the host: the copied mounts are shared ones on systemd hosts.
        call("make the container's mounts private", Nr.MOUNT, 0, str(0, "/"), 0, MS_REC | MS_PRIVATE, 0);
        if (o.hostname() != null) {
            call("sethostname(" + o.hostname() + ")", Nr.SETHOSTNAME, str(0, o.hostname()), o.hostname().getBytes(java.nio.charset.StandardCharsets.UTF_8).length);
        }
        if (o.root() != null) pivotRoot(o.root());
        call("mount proc on /proc", Nr.MOUNT, str(0, "proc"), str(64, "/proc"), str(0, "proc"), MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
        if (o.net()) loopbackUp();
        if (o.detach()) call("setsid", Nr.SETSID);
        defaultSignals();
        // The stub inherited the JVM's fds that are not close-on-exec: CMD gets 0, 1 and 2 only.
        call("close_range(3, ~0)", Nr.CLOSE_RANGE, 3, 0xffffffffL, 0);
    }

    /**
     * DIR becomes /: bound onto itself (pivot_root(2) needs a mount point), then pivot_root(".", ".") stacks the
     * old root on top of the new one, where umount2(MNT_DETACH) takes it away (the man page's recipe, no
     * put_old directory needed).
     */
    private void pivotRoot(Path root) throws SysException {
        String dir = root.toString();
        call("bind --root " + dir + " onto itself", Nr.MOUNT, str(0, dir), str(0, dir), 0, MS_BIND | MS_REC, 0);
        call("chdir(" + dir + ")", Nr.CHDIR, str(0, dir));
        call("pivot_root into " + dir, Nr.PIVOT_ROOT, str(0, "."), str(0, "."));
        call("detach the host's root", Nr.UMOUNT2, str(0, "."), MNT_DETACH);
        call("chdir(/) in the new root", Nr.CHDIR, str(0, "/"));
    }

    /** ifconfig lo up: SIOCGIFFLAGS, add IFF_UP|IFF_RUNNING, SIOCSIFFLAGS (netdevice(7)). */
    private void loopbackUp() throws SysException {
        int fd = (int) call("socket(AF_INET, SOCK_DGRAM) for lo", Nr.SOCKET, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = a.allocate(IFREQ_SIZE, 8);
            ifr.setString(0, "lo");
            long at = t.put(0, ifr);
            call("ioctl(SIOCGIFFLAGS, lo)", Nr.IOCTL, fd, SIOCGIFFLAGS, at);
            short flags = t.get(at + 16, 2, a).get(JAVA_SHORT, 0);
            ifr.set(JAVA_SHORT, 16, (short) (flags | IFF_UP | IFF_RUNNING));
            t.put(0, ifr);
            call("ioctl(SIOCSIFFLAGS, lo up)", Nr.IOCTL, fd, SIOCSIFFLAGS, at);
        }
        call("close(socket)", Nr.CLOSE, fd);
    }

    /**
     * Ignored signals stay ignored across execve(2) (handlers do not): each one the stub inherited goes back to
     * SIG_DFL. The blocked mask is cleared by the caller once the exec is done.
     */
    private void defaultSignals() throws SysException, IOException {
        long ignored = Long.parseUnsignedLong(statusField("SigIgn"), 16);
        long action = t.put(0, MemorySegment.ofArray(new long[4]));   // {SIG_DFL, flags 0, restorer 0, mask 0}
        for (int sig = 1; sig <= 64; sig++) {
            if ((ignored & (1L << (sig - 1))) != 0) call("rt_sigaction(" + sig + ", SIG_DFL)", Nr.RT_SIGACTION, sig, action, 0, 8);
        }
    }

    private String statusField(String key) throws IOException {
        for (String line : ProcFile.read("/proc/" + t.tid + "/status").split("\n")) {
            if (line.startsWith(key + ":")) return line.substring(key.length() + 1).trim();
        }
        throw new IOException("/proc/" + t.tid + "/status has no " + key);
    }

    /** Puts a C string into the scratch area at offset (strings of one call at different offsets). */
    private long str(long offset, String s) throws SysException {
        return t.putString(offset + 4096, s);
    }

    private long call(String step, int nr, long... args) throws SysException {
        long r = t.call(nr, null, args);
        if (r < 0 && r > -4096) throw new SysException("run: " + step, (int) -r);
        return r;
    }
}
