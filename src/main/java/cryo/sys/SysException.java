package cryo.sys;

/** A system call failed: names the call, what it was applied to and the errno. */
public final class SysException extends Exception {
    private final int errno;

    public SysException(String call, int errno) {
        super(call + ": " + Errno.describe(errno));
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
