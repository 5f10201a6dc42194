package cryo.ipc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import cryo.testing.Procfs;
import cryo.testing.Timeouts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * The SysV IPC objects of an IPC namespace as the kernel lists them in /proc/sysvipc/{msg,sem,shm} (read
 * by the test JVM for its own namespace, which is cryo's, or by {@code nsenter --ipc=/proc/PID/ns/ipc cat}
 * for another), and removal by id with {@code ipcrm}. Independent of cryo's own IPC code.
 *
 * <p>It also keeps the list of objects a test created (or had cryo create), and removes each of them by id
 * after the test, pass or fail ({@link #removeAll()}, called from {@code @AfterEach}) — only if the id still
 * names an object with the recorded key, in the recorded namespace.
 */
final class SysvObjects {
    enum Kind {
        MSG("msg", "msqid", "-q"), SEM("sem", "semid", "-s"), SHM("shm", "shmid", "-m");

        final String file, idColumn, ipcrmFlag;

        Kind(String file, String idColumn, String ipcrmFlag) {
            this.file = file;
            this.idColumn = idColumn;
            this.ipcrmFlag = ipcrmFlag;
        }
    }

    /** One object: its kind, id, key and every column of its /proc/sysvipc line by name. */
    record Obj(Kind kind, int id, int key, Map<String, String> columns) {
        String get(String column) {
            String v = columns.get(column);
            if (v == null) throw new AssertionError("no column " + column + " in " + columns);
            return v;
        }

        long num(String column) {
            return Long.parseLong(get(column));
        }

        int perms() {
            return Integer.parseInt(get("perms"), 8);
        }

        /** kind:id:key, what "nothing created, nothing removed" compares. */
        String name() {
            return kind + ":" + id + ":0x" + Integer.toHexString(key);
        }
    }

    /** An object the test must remove: in the namespace of nsPid (0: the JVM's), if ns is still that one. */
    private record Owned(long nsPid, String ns, Kind kind, int id, int key) {}

    private final List<Owned> owned = new ArrayList<>();

    // ------------------------------------------------------------------ listing

    /** Every object of the JVM's (= cryo's) IPC namespace, by "KIND:id". */
    static Map<String, Obj> host() {
        return list(0);
    }

    /** Every object of the IPC namespace of process nsPid (0: the JVM's own), by "KIND:id". */
    static Map<String, Obj> list(long nsPid) {
        Map<String, Obj> all = new TreeMap<>();
        for (Kind k : Kind.values()) {
            String text = nsPid == 0 ? readProc(Path.of("/proc/sysvipc", k.file)) : nsenter(nsPid, "cat", "/proc/sysvipc/" + k.file);
            String[] lines = text.split("\n");
            if (lines.length == 0) continue;
            String[] header = lines[0].trim().split("\\s+");
            for (int i = 1; i < lines.length; i++) {
                String[] f = lines[i].trim().split("\\s+");
                if (f.length < 2) continue;
                Map<String, String> cols = new LinkedHashMap<>();
                for (int c = 0; c < Math.min(header.length, f.length); c++) cols.put(header[c], f[c]);
                int id = Integer.parseInt(cols.get(k.idColumn));
                Obj o = new Obj(k, id, (int) Long.parseLong(cols.get("key")), cols);
                all.put(k + ":" + id, o);
            }
        }
        return all;
    }

    /** The names (kind:id:key) of every object of that namespace, sorted. */
    static List<String> names(long nsPid) {
        return list(nsPid).values().stream().map(Obj::name).sorted().toList();
    }

    /** The IPC namespace of a process, as /proc/PID/ns/ipc names it ("ipc:[4026531839]"), or "" if gone. */
    static String namespaceOf(long pid) {
        try {
            return Files.readSymbolicLink(Path.of("/proc", pid == 0 ? "self" : Long.toString(pid), "ns", "ipc")).toString();
        } catch (IOException e) {
            return "";
        }
    }

    /** A value of /proc/sys/kernel/NAME in the namespace of nsPid (0: the JVM's). */
    static String sysctl(long nsPid, String name) {
        String p = "/proc/sys/kernel/" + name;
        return (nsPid == 0 ? readProc(Path.of(p)) : nsenter(nsPid, "cat", p)).trim();
    }

    private static String readProc(Path p) {
        try {
            return Procfs.read(p);
        } catch (IOException e) {
            throw new AssertionError("cannot read " + p + ": " + e, e);
        }
    }

    /** Runs a command in the IPC namespace of pid and returns its stdout; fails on a non-zero exit. */
    static String nsenter(long pid, String... cmd) {
        List<String> c = new ArrayList<>(List.of("nsenter", "--ipc=/proc/" + pid + "/ns/ipc"));
        c.addAll(List.of(cmd));
        Result r = exec(c);
        if (r.exit != 0) throw new AssertionError(c + " exited " + r.exit + ": " + r.out);
        return r.out;
    }

    private record Result(int exit, String out) {}

    private static Result exec(List<String> cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            p.getOutputStream().close();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(Timeouts.EXIT.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(cmd + " did not finish");
            }
            return new Result(p.exitValue(), new String(out, StandardCharsets.ISO_8859_1));
        } catch (IOException e) {
            throw new AssertionError("cannot run " + cmd + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    // ------------------------------------------------------------------ removal

    /** ipcrm by id in the namespace of nsPid (0: the JVM's); true if it removed something. */
    static boolean remove(long nsPid, Kind kind, int id) {
        List<String> c = new ArrayList<>();
        if (nsPid != 0) c.addAll(List.of("nsenter", "--ipc=/proc/" + nsPid + "/ns/ipc"));
        c.addAll(List.of("ipcrm", kind.ipcrmFlag, Integer.toString(id)));
        return exec(c).exit == 0;
    }

    /** ipcrm by id in the JVM's namespace, which must succeed (the object exists). */
    static void removeNow(Kind kind, int id) {
        assertEquals(true, remove(0, kind, id), "ipcrm " + kind.ipcrmFlag + " " + id);
    }

    /** Registers an object of the JVM's namespace for removal after the test. */
    synchronized void own(Kind kind, int id, int key) {
        owned.add(new Owned(0, namespaceOf(0), kind, id, key));
    }

    /** Registers an object of the IPC namespace of process nsPid (0: the JVM's) for removal after the test. */
    synchronized void own(long nsPid, Kind kind, int id, int key) {
        owned.add(new Owned(nsPid, namespaceOf(nsPid), kind, id, key));
    }

    /**
     * Removes every registered object that still exists with its key, in its namespace (as long as the process
     * that named the namespace still lives in it). Best effort: reports, never throws.
     */
    synchronized void removeAll() {
        for (Owned o : owned.reversed()) {
            try {
                if (o.nsPid() != 0 && !namespaceOf(o.nsPid()).equals(o.ns())) continue; // its namespace is gone with it
                Obj now = list(o.nsPid()).get(o.kind() + ":" + o.id());
                if (now == null || now.key() != o.key()) continue;
                if (remove(o.nsPid(), o.kind(), o.id()))
                    System.out.println("[ipc cleanup] removed " + now.name() + (o.nsPid() == 0 ? "" : " in " + o.ns()));
                else System.out.println("[ipc cleanup] could not remove " + now.name());
            } catch (RuntimeException | AssertionError e) {
                System.out.println("[ipc cleanup] " + o + ": " + e.getMessage());
            }
        }
        owned.clear();
    }
}
