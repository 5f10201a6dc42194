package cryo.janitor;

import cryo.sys.ProcFile;

import java.io.IOException;
import java.nio.file.NoSuchFileException;

/** A process named by pid and starttime (field 22 of /proc/PID/stat), so that a recycled pid is another process. */
public record Owner(int pid, long start) {
    /** This process. */
    public static Owner self() throws IOException {
        Owner o = of((int) ProcessHandle.current().pid());
        if (o == null) throw new IOException("cannot read /proc/self/stat");
        return o;
    }

    /** The running (not zombie) process pid, or null when it is gone or a zombie. */
    public static Owner of(int pid) throws IOException {
        String stat;
        try {
            stat = ProcFile.read("/proc/" + pid + "/stat");
        } catch (NoSuchFileException e) {
            return null;
        }
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");   // f[0] is field 3, state
        if (f[0].equals("Z") || f[0].equals("X")) return null;
        return new Owner(pid, Long.parseLong(f[19]));
    }

    /** True while this very process runs (a zombie does not). */
    public boolean alive() throws IOException {
        return equals(of(pid));
    }

    /** The journal file name. */
    String name() {
        return pid + "-" + start;
    }

    /** The owner a journal file is named for, or null. */
    static Owner ofName(String name) {
        if (!name.matches("[0-9]{1,10}-[0-9]{1,20}")) return null;
        int dash = name.indexOf('-');
        try {
            return new Owner(Integer.parseInt(name.substring(0, dash)), Long.parseLong(name.substring(dash + 1)));
        } catch (NumberFormatException e) {
            return null;
        }
    }
}
