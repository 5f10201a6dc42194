package cryo.checkpoint;

import cryo.image.Refusal;
import cryo.sys.ProcFile;
import cryo.task.ProcStat;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.util.List;

/**
 * Who holds a task that PTRACE_SEIZE refused with EPERM: a task has one tracer (kernel/ptrace.c
 * ptrace_attach() fails on PT_PTRACED). Another cryo (its command line names cryo's main class) is
 * checkpointing the tree or restarting it; any other tracer is a debugger or strace the user must end first.
 */
final class OtherTracer {
    private static final String MAIN = "cryo.cli.Main";

    private OtherTracer() {
    }

    /**
     * The process that traces tid (a thread of pid): 0 for none. TracerPid in /proc names the tracing thread
     * (fs/proc/array.c task_state()): its Tgid is the process.
     */
    static int tracer(int pid, int tid) throws IOException {
        ProcStat s = ProcStat.readThread(pid, tid);
        String tracer = s == null ? null : s.status("TracerPid");
        if (tracer == null || tracer.equals("0")) return 0;
        ProcStat t = ProcStat.read(Integer.parseInt(tracer));
        return t == null ? Integer.parseInt(tracer) : Integer.parseInt(t.status("Tgid"));
    }

    /** The refusal naming the tracer of tid (a thread of pid), or null when tid is traced by nobody. */
    static Refusal of(int pid, int tid) throws IOException {
        int t = tracer(pid, tid);
        if (t == 0) return null;
        String command = cryoCommand(t);
        String who = pid == tid ? "" : " (thread of " + pid + ")";
        if (command == null) {
            ProcStat ts = ProcStat.read(t);
            String comm = ts == null ? "?" : ts.comm;
            return new Refusal(tid, "is traced by pid " + t + " (" + comm + ")" + who + ": another tracer holds it; end it first");
        }
        return new Refusal(tid, switch (command) {
            case "checkpoint" -> "is being checkpointed by cryo pid " + t + who;
            case "restart" -> "is being restarted by cryo pid " + t + " (still releasing it)" + who;
            default -> "is traced by cryo pid " + t + " (cryo " + command + ")" + who;
        });
    }

    /** The subcommand of a cryo process (the argument after its main class), or null for anything else. */
    private static String cryoCommand(int pid) throws IOException {
        String cmdline;
        try {
            cmdline = ProcFile.read("/proc/" + pid + "/cmdline");
        } catch (NoSuchFileException e) {
            return null;
        }
        List<String> args = List.of(cmdline.split("\0"));
        for (int i = 0; i < args.size(); i++) {
            if (args.get(i).endsWith(MAIN)) return i + 1 < args.size() ? args.get(i + 1) : "";
        }
        return null;
    }
}
