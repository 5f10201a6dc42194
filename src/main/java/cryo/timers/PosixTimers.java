package cryo.timers;

import cryo.image.ImageException;
import cryo.image.Refusal;
import cryo.image.Tree;
import cryo.remote.Tracee;
import cryo.sys.ProcFile;
import cryo.sys.SysException;
import cryo.sys.Timers;
import cryo.task.TaskRecord;
import cryo.task.ThreadRecord;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * POSIX timers (timer_create(2)), both halves. Checkpoint reads /proc/PID/timers (fs/proc/base.c show_timer:
 * id, signal and sigev value, notification and its target, clock) and asks the frozen task, by remote
 * syscalls, each timer's time left and interval (timer_gettime) and its overrun (timer_getoverrun); neither
 * changes what the task will see. Restart creates the timers in the process after its threads exist (a
 * SIGEV_THREAD_ID timer names one), with the same ids: prctl(PR_TIMER_CREATE_RESTORE_IDS) makes timer_create
 * take the id from *timerid (kernel/time/posix-timers.c, since 6.15), then timer_settime arms each with its
 * time left and interval, relative to the restart.
 */
public final class PosixTimers {
    private static final int SI_TIMER = -2;
    /** include/linux/posix-timers.h: a CPU clock id is ~pid << 3 | perthread (4) | type (PROF 0, VIRT 1, SCHED 2). */
    private static final int CPUCLOCK_PERTHREAD = 4, CPUCLOCK_TYPE = 3, CPUCLOCK_MAX = 3;
    private static final Set<Integer> CLOCKS = Set.of(Timers.CLOCK_REALTIME, Timers.CLOCK_MONOTONIC, Timers.CLOCK_PROCESS_CPUTIME_ID,
            Timers.CLOCK_BOOTTIME, Timers.CLOCK_REALTIME_ALARM, Timers.CLOCK_BOOTTIME_ALARM, Timers.CLOCK_TAI);
    static final long NS = 1_000_000_000L;
    /** Scratch offset of a struct itimerspec. */
    static final int SC_ITS = 128;

    private PosixTimers() {
    }

    // ---------------------------------------------------------------- checkpoint

    /** The timers of a process, and its TASK and THREAD records without the signals of its timers (pending). */
    public record Dump(List<PosixTimerRecord> timers, TaskRecord task, List<ThreadRecord> threads) {
    }

    /**
     * The POSIX timers of the frozen process pid whose leader is t (scratch memory set up), task and threads
     * its records. A timer's own signal still queued (si_code SI_TIMER, its id in si_timerid) moves from the
     * queue to the timer (pending): restart has the timer queue it itself, so that taking it re-arms the timer
     * and counts its overrun as it would have (kernel/time/posix-timers.c posixtimer_deliver_signal()).
     */
    public static Dump checkpoint(Tracee t, int pid, TaskRecord task, List<ThreadRecord> threads) throws Refusal, SysException, IOException {
        List<PosixTimerRecord> timers = new ArrayList<>();
        List<String[]> entries = parse(ProcFile.read("/proc/" + pid + "/timers"));
        if (entries.isEmpty()) return new Dump(timers, task, threads);
        List<Integer> tids = threads.stream().map(ThreadRecord::tid).toList();
        List<byte[]> shared = new ArrayList<>(task.sharedPending());
        Map<Integer, List<byte[]>> privateQueues = new HashMap<>();
        for (ThreadRecord th : threads) privateQueues.put(th.tid(), new ArrayList<>(th.pending()));
        try (Arena a = Arena.ofConfined()) {
            for (String[] e : entries) {
                int id = Integer.parseInt(e[0]);
                int signal = Integer.parseInt(e[1].substring(0, e[1].indexOf('/')));
                long value = Long.parseUnsignedLong(e[1].substring(e[1].indexOf('/') + 1), 16);
                String how = e[2].substring(0, e[2].indexOf('/'));
                boolean toThread = e[2].contains("/tid.");
                int target = Integer.parseInt(e[2].substring(e[2].indexOf('.') + 1));
                int clock = Integer.parseInt(e[3]);
                String what = "POSIX timer " + id;
                int notify = switch (how) {
                    case "signal" -> PosixTimerRecord.SIGEV_SIGNAL;
                    case "none" -> PosixTimerRecord.SIGEV_NONE;
                    case "thread" -> PosixTimerRecord.SIGEV_THREAD;
                    default -> throw new Refusal(pid, "has " + what + " with notification '" + how + "': not supported");
                } | (toThread ? PosixTimerRecord.SIGEV_THREAD_ID : 0);
                if (toThread && !tids.contains(target)) throw new Refusal(pid, "has " + what + " whose signal goes to thread " + target + ", which has exited: not supported");
                if (!restorableClock(clock) || (clock < 0 && !ownCpuClock(clock, nsId(pid, pid), nsIds(pid, tids)))) {
                    throw new Refusal(pid, "has " + what + " on clock " + clock + " (" + clockName(clock) + "): not supported");
                }
                t.syscall("timer_gettime(" + id + ")", Timers.TIMER_GETTIME, id, t.scratch() + SC_ITS);
                long[] its = t.get(t.scratch() + SC_ITS, 32, a).toArray(JAVA_LONG);
                int overrun = (int) t.syscall("timer_getoverrun(" + id + ")", Timers.TIMER_GETOVERRUN, id);
                long left = its[2] * NS + its[3], interval = its[0] * NS + its[1];
                boolean pending = notify != PosixTimerRecord.SIGEV_NONE
                        && takeOwnSignal(toThread ? privateQueues.get(target) : shared, id, signal, pid, what);
                // A one-shot timer is disarmed once it fires: armed again, it was set anew after its signal was
                // queued, and the kernel drops that stale signal when it is dequeued (its it_signal_seq moved on).
                if (pending && interval == 0 && left != 0) pending = false;
                timers.add(new PosixTimerRecord(pid, id, clock, notify, signal, toThread ? target : 0, value,
                        left, interval, overrun, pending));
            }
        }
        for (PosixTimerRecord r : timers) {
            checkOverrun(r, shared, privateQueues.get(pid), r.threadTargeted() ? privateQueues.get(r.tid()) : List.of(), "POSIX timer " + r.id());
        }
        timers.sort(java.util.Comparator.comparingInt(PosixTimerRecord::id));
        List<ThreadRecord> left = threads.stream().map(th -> th.withPending(privateQueues.get(th.tid()))).toList();
        return new Dump(timers, task.withSharedPending(shared), left);
    }

    /**
     * A periodic timer, not pending, whose last signal had overruns: restart takes a signal of it to set them.
     * Not on a CPU clock: the new process has used too little CPU time to set such a timer that far back.
     */
    static boolean overrunToRestore(PosixTimerRecord r) {
        return r.overrun() > 0 && r.intervalNs() > 0 && r.valueNs() > 0 && !r.pending() && r.sigevNotify() != PosixTimerRecord.SIGEV_NONE
                && r.clock() >= 0 && r.clock() != Timers.CLOCK_PROCESS_CPUTIME_ID;
    }

    /**
     * Restart takes a signal of a timer whose overrun it restores with rt_sigtimedwait, which takes the first
     * signal of that number pending for the thread (its own queue, then the process's): none may be before it.
     */
    private static void checkOverrun(PosixTimerRecord r, List<byte[]> shared, List<byte[]> leaderQueue, List<byte[]> targetQueue, String what)
            throws Refusal {
        if (!overrunToRestore(r)) return;
        List<byte[]> looked = new ArrayList<>(r.threadTargeted() ? targetQueue : leaderQueue);
        if (!r.threadTargeted()) looked.addAll(shared);
        if (looked.stream().anyMatch(si -> signo(si) == r.signal())) {
            throw new Refusal(r.pid(), "has " + what + " whose last signal had " + r.overrun() + " overruns, with another signal " + r.signal()
                    + " pending: not supported (restart takes a signal of the timer to count them again)");
        }
    }

    /**
     * Removes timer id's own signal from queue, if it is there. Restart queues it again last: refused when
     * another signal of the same number comes after it (their order would change).
     */
    private static boolean takeOwnSignal(List<byte[]> queue, int id, int signal, int pid, String what) throws Refusal {
        for (int i = 0; i < queue.size(); i++) {
            if (!ownSignal(queue.get(i), id, signal)) continue;
            for (byte[] later : queue.subList(i + 1, queue.size())) {
                if (signo(later) == signal) throw new Refusal(pid, "has " + what + " whose pending signal " + signal
                        + " is queued before another signal " + signal + ": not supported (restart would change their order)");
            }
            queue.remove(i);
            return true;
        }
        return false;
    }

    /** A siginfo the timer queued: its signal, si_code SI_TIMER, si_timerid its id (include/uapi/asm-generic/siginfo.h). */
    static boolean ownSignal(byte[] si, int id, int signal) {
        ByteBuffer b = ByteBuffer.wrap(si).order(ByteOrder.LITTLE_ENDIAN);
        return b.getInt(0) == signal && b.getInt(8) == SI_TIMER && b.getInt(16) == id;
    }

    private static int signo(byte[] si) {
        return ByteBuffer.wrap(si).order(ByteOrder.LITTLE_ENDIAN).getInt(0);
    }

    /**
     * The id of task tid of process pid in its own pid namespace (the last of /proc's NSpid line): what a CPU
     * clock id made inside a container names it by.
     */
    private static int nsId(int pid, int tid) throws IOException {
        for (String line : ProcFile.read("/proc/" + pid + "/task/" + tid + "/status").split("\n")) {
            if (line.startsWith("NSpid:")) {
                String[] ids = line.substring(6).trim().split("\\s+");
                return Integer.parseInt(ids[ids.length - 1]);
            }
        }
        return tid;
    }

    private static List<Integer> nsIds(int pid, List<Integer> tids) throws IOException {
        List<Integer> out = new ArrayList<>();
        for (int tid : tids) out.add(nsId(pid, tid));
        return out;
    }

    /** The entries of /proc/PID/timers: {id, "signal/value", "notify/pid.N", clock}. */
    private static List<String[]> parse(String text) {
        List<String[]> out = new ArrayList<>();
        String[] cur = null;
        for (String line : text.split("\n")) {
            int colon = line.indexOf(':');
            if (colon < 0) continue;
            String key = line.substring(0, colon), v = line.substring(colon + 1).trim();
            switch (key) {
                case "ID" -> {
                    cur = new String[4];
                    cur[0] = v;
                    out.add(cur);
                }
                case "signal" -> cur[1] = v;
                case "notify" -> cur[2] = v;
                case "ClockID" -> cur[3] = v;
                default -> {
                }
            }
        }
        return out;
    }

    /**
     * A clock restart can create the timer on in the process: a clock of the system, the process's CPU clock,
     * or a CPU clock naming the process or one of its threads (their ids do not change). Not the creating
     * thread's own CPU clock (CLOCK_THREAD_CPUTIME_ID, or a thread CPU clock of "pid 0"): which thread created
     * the timer is not known.
     */
    static boolean restorableClock(int clock) {
        if (clock >= 0) return CLOCKS.contains(clock);
        if ((clock & CPUCLOCK_TYPE) >= CPUCLOCK_MAX) return false;
        return (clock & CPUCLOCK_PERTHREAD) == 0 || cpuClockPid(clock) != 0;
    }

    /** A CPU clock names the process itself (0 or its pid) or, per thread, one of its threads. */
    private static boolean ownCpuClock(int clock, int pid, List<Integer> tids) {
        if (clock >= 0) return true;
        int of = cpuClockPid(clock);
        return (clock & CPUCLOCK_PERTHREAD) == 0 ? of == 0 || of == pid : tids.contains(of);
    }

    private static int cpuClockPid(int clock) {
        return ~(clock >> 3);
    }

    private static String clockName(int clock) {
        if (clock == Timers.CLOCK_THREAD_CPUTIME_ID) return "the CPU clock of the thread that created it";
        if (clock >= 0) return "unknown";
        return "a CPU clock of " + ((clock & CPUCLOCK_PERTHREAD) != 0 ? "thread " : "process ") + cpuClockPid(clock);
    }

    // ---------------------------------------------------------------- image

    /** A timer of process p, after those before it: ids rising, its target thread and CPU clock p's own. */
    public static void check(PosixTimerRecord t, List<PosixTimerRecord> timers, Tree.Process p, String record) throws ImageException {
        if (!timers.isEmpty() && timers.getLast().id() >= t.id()) throw new ImageException("record " + record + ": timer id " + t.id() + " is not above the one before it (" + timers.getLast().id() + ")");
        List<Integer> tids = java.util.Arrays.stream(p.tids()).boxed().toList();
        if (t.tid() != 0 && !tids.contains(t.tid())) throw new ImageException("record " + record + ": field 'tid' " + t.tid() + " is not a thread of pid " + p.pid() + " in the TREE");
        if (!ownCpuClock(t.clock(), p.pid(), tids)) throw new ImageException("record " + record + ": field 'clock' " + t.clock() + " is " + clockName(t.clock()) + ", not of pid " + p.pid());
        timers.add(t);
    }

    // ---------------------------------------------------------------- restore

    /**
     * Creates the timers of the process whose leader is t once its threads and pending signals are back, with
     * their ids, and arms them (PosixTimersRestore); threads: its other threads.
     */
    public static void restore(Tracee t, List<Tracee> threads, List<PosixTimerRecord> timers) throws SysException {
        if (!timers.isEmpty()) new PosixTimersRestore(t, threads).restore(timers);
    }
}
