package cryo.sys;

/** A decoded wait status (wait(2), ptrace(2) "stopped states"). */
public record WaitStatus(int pid, int raw) {
    public static final int SIGTRAP = 5, SIGSTOP = 19;

    public boolean exited() {
        return (raw & 0x7f) == 0;
    }

    public int exitCode() {
        return (raw >> 8) & 0xff;
    }

    public boolean signaled() {
        return ((raw & 0x7f) + 1) >> 1 > 0 && (raw & 0x7f) != 0x7f;
    }

    public int termSignal() {
        return raw & 0x7f;
    }

    public boolean stopped() {
        return (raw & 0xff) == 0x7f;
    }

    public int stopSignal() {
        return (raw >> 8) & 0xff;
    }

    /** PTRACE_EVENT_* number of an event stop (status>>16), 0 otherwise. */
    public int event() {
        return (raw >> 16) & 0xff;
    }

    /** A syscall-stop under PTRACE_O_TRACESYSGOOD reports SIGTRAP|0x80. */
    public boolean syscallStop() {
        return stopped() && stopSignal() == (SIGTRAP | 0x80);
    }

    public boolean gone() {
        return exited() || signaled();
    }

    @Override
    public String toString() {
        if (exited()) return "exited with " + exitCode();
        if (signaled()) return "killed by signal " + termSignal();
        if (stopped()) return "stopped by signal " + stopSignal() + (event() != 0 ? " event " + event() : "");
        return "status 0x" + Integer.toHexString(raw);
    }
}
