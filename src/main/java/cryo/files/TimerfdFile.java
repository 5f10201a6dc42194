package cryo.files;

import cryo.image.Refusal;
import cryo.sys.Fd;
import cryo.sys.ProcFile;
import cryo.sys.Proc;
import cryo.sys.SysException;
import cryo.sys.Timers;

import java.io.IOException;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An fd of a timerfd (timerfd_create(2)). Checkpoint takes a duplicate of the task's fd with pidfd_getfd and
 * reads it from cryo: timerfd_gettime, then fdinfo (fs/timerfd.c timerfd_show: clockid, ticks, settime flags).
 * A periodic timerfd that expired is not restarted by the kernel until it is read or asked its time; then the
 * expirations missed meanwhile are added to its ticks (timerfd_read(), timerfd_gettime() both forward it). So
 * timerfd_gettime is asked first: it changes nothing a read or poll of the task will see, and the ticks fdinfo
 * shows after it are complete. An absolute timer (TFD_TIMER_ABSTIME) is saved with its expiry on its clock (now
 * + the time left), a relative one with the time left. Restart creates each timerfd once, in cryo: same clock
 * and flags, timerfd_settime (absolute ones again with TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET kept), then
 * the ticks not read yet with ioctl(TFD_IOC_SET_TICKS).
 */
final class TimerfdFile implements FileKind {
    static final String LINK = "anon_inode:[timerfd]";
    private static final long NS = 1_000_000_000L;

    public Set<OpenFileRecord.Kind> kinds() {
        return EnumSet.of(OpenFileRecord.Kind.TIMERFD);
    }

    public boolean takes(FdContext c) {
        return c.link().equals(LINK);
    }

    public OpenFileRecord checkpoint(FdContext c) throws Refusal, IOException {
        c.refuseIfSharedOutside("a timerfd");
        TimerfdRecord t;
        try {
            t = read(c.pid(), c.fd(), c.table().nextObjref());
        } catch (SysException e) {
            throw new IOException("timerfd at fd " + c.fd() + " of task " + c.pid() + ": " + e.getMessage(), e);
        }
        c.table().object(t);
        return new OpenFileRecord(c.table().nextObjref(), OpenFileRecord.Kind.TIMERFD, t.objref(), 0, c.flags(), 0, 0, c.link());
    }

    /** The state of the timerfd at fd of pid, as TIMERFD objref; nothing a read or poll of the task sees changes. */
    private static TimerfdRecord read(int pid, int fd, int objref) throws SysException, IOException {
        int local = Proc.pidfdGetfd(pid, fd);
        try {
            // An expiry between the two fdinfo reads changes the ticks: ask again, so that the ticks and the time
            // left belong together.
            for (int i = 0; ; i++) {
                Map<String, String> before = fdinfo(local);
                long[] its = Timers.timerfdGettime(local);
                long[] now = Timers.clockGettime(Timers.baseClock(Integer.parseInt(before.get("clockid"))));
                Map<String, String> after = fdinfo(local);
                if (!before.get("ticks").equals(after.get("ticks")) && i < 100) continue;
                int clock = Integer.parseInt(after.get("clockid"));
                int flags = Integer.parseInt(after.get("settime flags"), 8);
                long value = its[2] * NS + its[3], interval = its[0] * NS + its[1];
                if (value != 0 && (flags & Timers.TFD_TIMER_ABSTIME) != 0) value += now[0] * NS + now[1];
                return new TimerfdRecord(objref, clock, flags, Long.parseLong(after.get("ticks")), value, interval);
            }
        } finally {
            Fd.close(local);
        }
    }

    /** /proc/self/fdinfo/fd as "name" -> value (the text after the colon, trimmed). */
    static Map<String, String> fdinfo(int fd) throws IOException {
        Map<String, String> m = new java.util.HashMap<>();
        for (String line : ProcFile.read("/proc/self/fdinfo/" + fd).split("\n")) {
            int colon = line.indexOf(':');
            if (colon > 0) m.put(line.substring(0, colon), line.substring(colon + 1).trim());
        }
        return m;
    }

    public Restorer restorer(RestoreContext rc) {
        return new Restorer() {
            private final List<Integer> created = new ArrayList<>();

            public int open(OpenFileRecord d) throws SysException {
                TimerfdRecord t = rc.timerfds().get(d.file());
                int fd = Timers.timerfdCreate(t.clock(), d.flags() & Fd.O_NONBLOCK);
                created.add(fd);
                if (t.valueNs() != 0 || t.intervalNs() != 0 || t.settimeFlags() != 0) {
                    Timers.timerfdSettime(fd, t.settimeFlags(), new long[]{t.intervalNs() / NS, t.intervalNs() % NS, t.valueNs() / NS, t.valueNs() % NS});
                }
                if (t.ticks() != 0) Timers.timerfdSetTicks(fd, t.ticks());
                return fd;
            }

            public void close() {
                for (int fd : created) Fd.close(fd);
                created.clear();
            }
        };
    }
}
