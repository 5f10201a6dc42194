package cryo.ns;

import cryo.remote.Tracee;
import cryo.sys.Net;
import cryo.sys.Nr;
import cryo.sys.SysException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Restart of a container's namespaces: the init is created with clone3 and the CLONE_NEW* flags of the
 * NAMESPACES record (NamespacesRecord.cloneFlags), so its namespaces are new and its own; then, by remote
 * calls in the init before any child exists, their state: host and domain name, and loopback up.
 */
public final class ContainerRestore {
    private ContainerRestore() {
    }

    /** Gives the freshly created init (alone in its new namespaces) the state they had. */
    public static void inInit(Tracee init, NamespacesRecord ns) throws SysException {
        if (ns.has(Namespace.UTS)) {
            byte[] host = ns.hostname().getBytes(StandardCharsets.UTF_8), domain = ns.domainname().getBytes(StandardCharsets.UTF_8);
            init.syscall("sethostname(" + ns.hostname() + ")", Nr.SETHOSTNAME, init.put(0, MemorySegment.ofArray(host)), host.length);
            init.syscall("setdomainname(" + ns.domainname() + ")", Nr.SETDOMAINNAME, init.put(0, MemorySegment.ofArray(domain)), domain.length);
        }
        if (ns.has(Namespace.NET) && ns.loopbackUp()) loopbackUp(init);
    }

    /** ioctl(SIOCSIFFLAGS) on a socket of the init, which is in the new network namespace (netdevice(7)). */
    private static void loopbackUp(Tracee init) throws SysException {
        long fd = init.syscall("socket(AF_INET, SOCK_DGRAM)", Nr.SOCKET, Net.AF_INET, Net.SOCK_DGRAM | Net.SOCK_CLOEXEC, 0);
        try (Arena a = Arena.ofConfined()) {
            long ifr = init.put(0, Net.ifreq(a, "lo"));
            init.syscall("ioctl(SIOCGIFFLAGS, lo)", Nr.IOCTL, fd, Net.SIOCGIFFLAGS, ifr);
            MemorySegment got = init.get(ifr, Net.IFREQ_SIZE, a);
            got.set(JAVA_SHORT, Net.IFREQ_FLAGS, (short) (got.get(JAVA_SHORT, Net.IFREQ_FLAGS) | Net.IFF_UP));
            init.put(0, got);
            init.syscall("ioctl(SIOCSIFFLAGS, lo up)", Nr.IOCTL, fd, Net.SIOCSIFFLAGS, ifr);
        } finally {
            init.syscall("close(socket)", Nr.CLOSE, fd);
        }
    }
}
