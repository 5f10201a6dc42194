package cryo.remote;

/** Layout of the scratch memory cryo maps in a task for remote-call arguments. */
public final class Scratch {
    public static final long SIZE = 64 * 1024;
    /** Free for the current call's arguments. */
    public static final long GENERAL = 0;
    /** A second area for larger structures kept across calls (auxv, prctl_mm_map). */
    public static final long AUX = 16 * 1024;
    /** Reserved for the fd broker's recvmsg buffers. */
    public static final long BROKER = 60 * 1024;

    private Scratch() {
    }
}
