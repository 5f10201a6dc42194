package cryo.memory;

import cryo.remote.Tracee;
import cryo.sys.Fd;
import cryo.sys.Nr;
import cryo.sys.Proc;
import cryo.sys.SysException;
import cryo.sys.Userfaultfd;

/**
 * A userfaultfd of a task's address space, held by cryo: made in the task by a remote userfaultfd(2) (it binds
 * the caller's mm), copied into cryo with pidfd_getfd and closed in the task at once, so cryo holds the only
 * reference — closing it (or cryo's death) unregisters every range and drops every write-protection
 * (fs/userfaultfd.c userfaultfd_release). The ioctls (Userfaultfd) then act on the task's memory from cryo.
 */
public final class TaskUserfaultfd {
    private TaskUserfaultfd() {
    }

    /**
     * Makes the userfaultfd in t (stopped, able to run remote syscalls) and returns cryo's fd for it, not
     * yet through UFFDIO_API. flags: Userfaultfd.O_NONBLOCK etc. (O_CLOEXEC always).
     */
    public static int open(Tracee t, int flags) throws SysException {
        return t.withRemoteFd("userfaultfd", Nr.USERFAULTFD, remote -> Proc.pidfdGetfd(t.tid, remote), flags | Userfaultfd.O_CLOEXEC);
    }

    /** open() then UFFDIO_API with the features; closes it again if the kernel refuses them. */
    public static int open(Tracee t, int flags, long features) throws SysException {
        int fd = open(t, flags);
        try {
            Userfaultfd.api(fd, features);
            return fd;
        } catch (SysException e) {
            Fd.close(fd);
            throw e;
        }
    }
}
