package cryo.sys;

/**
 * A test hook that makes a cryo command die by SIGKILL at a named moment, so that tests can put a kill exactly
 * where a random `kill -9` (bench/kill.sh) lands only sometimes. CRYO_KILL_AT=NAME dies the first time NAME is
 * reached; CRYO_KILL_AT=NAME#N the N-th time (from 1). Off, it costs one field read.
 */
public final class KillPoint {
    private static final String AT = System.getenv("CRYO_KILL_AT");
    private static final boolean STOP = "stop".equals(System.getenv("CRYO_KILL_MODE"));
    private static final String NAME;
    private static final int NTH;
    private static int reached;

    static {
        String name = null;
        int nth = 1;
        if (AT != null && !AT.isEmpty()) {
            int hash = AT.indexOf('#');
            name = hash < 0 ? AT : AT.substring(0, hash);
            if (hash >= 0) {
                try {
                    nth = Integer.parseInt(AT.substring(hash + 1));
                } catch (NumberFormatException e) {
                    nth = 1;
                }
            }
        }
        NAME = name;
        NTH = nth;
    }

    private KillPoint() {
    }

    /** Dies here when CRYO_KILL_AT names this point (and this is its N-th time). */
    public static void reach(String name) {
        if (NAME == null || !NAME.equals(name)) return;
        synchronized (KillPoint.class) {
            if (++reached != NTH) return;
        }
        // To this very thread: a signal sent to the process wakes its main thread, and this one could run on a while.
        Native.raw(Nr.TGKILL, Native.raw(Nr.GETPID, 0), Native.raw(Nr.GETTID, 0), STOP ? Proc.SIGSTOP : Proc.SIGKILL);
    }
}
