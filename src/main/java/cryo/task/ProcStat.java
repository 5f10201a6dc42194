package cryo.task;

import cryo.sys.ProcFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/** /proc/PID/stat and /proc/PID/status of one task (proc(5)). Field numbers are proc(5)'s, from 1. */
public final class ProcStat {
    public static final long PF_KTHREAD = 0x00200000;

    public final int pid;
    public final String comm;
    public final char state;
    private final String[] f;            // f[i] = field i+1 ... with f[0]=pid, f[1]=comm, f[2]=state
    private final Map<String, String> status;

    private ProcStat(int pid, String stat, Map<String, String> status) {
        this.pid = pid;
        int open = stat.indexOf('('), close = stat.lastIndexOf(')');
        this.comm = stat.substring(open + 1, close);
        String[] rest = stat.substring(close + 2).trim().split(" ");
        f = new String[rest.length + 2];
        f[0] = Integer.toString(pid);
        f[1] = comm;
        System.arraycopy(rest, 0, f, 2, rest.length);
        this.state = f[2].charAt(0);
        this.status = status;
    }

    /** Reads the task; null when it does not exist. */
    public static ProcStat read(int pid) throws IOException {
        return read("/proc/" + pid, pid);
    }

    public static ProcStat readThread(int pid, int tid) throws IOException {
        return read("/proc/" + pid + "/task/" + tid, tid);
    }

    private static ProcStat read(String dir, int pid) throws IOException {
        try {
            String stat = ProcFile.read(dir + "/stat");
            Map<String, String> status = new HashMap<>();
            for (String line : ProcFile.read(dir + "/status").split("\n")) {
                int c = line.indexOf(':');
                if (c > 0) status.put(line.substring(0, c), line.substring(c + 1).trim());
            }
            return new ProcStat(pid, stat, status);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    /** Field n of /proc/PID/stat, numbered as in proc(5). */
    public long field(int n) {
        return Long.parseLong(f[n - 1]);
    }

    public int ppid() {
        return (int) field(4);
    }

    public int pgid() {
        return (int) field(5);
    }

    public int sid() {
        return (int) field(6);
    }

    public boolean kernelThread() {
        return (field(9) & PF_KTHREAD) != 0;
    }

    public int exitSignal() {
        return (int) field(38);
    }

    /** The wait status of a zombie (field 52, exit_code). */
    public int exitCode() {
        return (int) field(52);
    }

    public String status(String key) {
        return status.getOrDefault(key, "");
    }

    public int[] statusInts(String key) {
        String v = status(key).trim();
        if (v.isEmpty()) return new int[0];
        String[] parts = v.split("\\s+");
        int[] out = new int[parts.length];
        for (int i = 0; i < parts.length; i++) out[i] = (int) Long.parseLong(parts[i]);
        return out;
    }

    public long statusHex(String key) {
        return Long.parseUnsignedLong(status(key), 16);
    }
}
