package cryo.container;

/** The container's command could not be executed: not found (status 127) or not executable (126), as a shell says. */
public final class ExecFailure extends Exception {
    private final int status;

    ExecFailure(String message, int status) {
        super(message);
        this.status = status;
    }

    /** The exit status cryo run ends with, a shell's for the same failure. */
    public int status() {
        return status;
    }
}
