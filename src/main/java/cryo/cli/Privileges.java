package cryo.cli;

import cryo.sys.Proc;
import cryo.task.Capabilities;
import cryo.task.Credentials;
import cryo.task.ProcStat;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The capabilities without which checkpoint and restart cannot work at all, checked before anything is touched
 * (the rest, `cryo check` lists with what their absence costs): checkpoint seizes and reads tasks with
 * CAP_SYS_PTRACE; restart drives the tasks it creates with it too and gives them their pids (clone3 set_tid)
 * and mm fields (PR_SET_MM_MAP) with CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE.
 */
final class Privileges {
    /** The caller lacks a capability the command cannot work without. */
    static final class Missing extends Exception {
        Missing(String message) {
            super(message);
        }
    }

    private Privileges() {
    }

    static void require(String command) throws Missing, IOException {
        ProcStat self = ProcStat.read(Proc.getpid());
        if (self == null) throw new IOException("cannot read /proc/self/status");
        long eff = Credentials.caps(self)[Credentials.EFF];
        List<String> missing = new ArrayList<>();
        if (!Capabilities.has(eff, Capabilities.SYS_PTRACE)) missing.add(Capabilities.name(Capabilities.SYS_PTRACE));
        if (command.equals("restart") && !Capabilities.has(eff, Capabilities.SYS_ADMIN) && !Capabilities.has(eff, Capabilities.CHECKPOINT_RESTORE)) {
            missing.add(Capabilities.name(Capabilities.SYS_ADMIN) + " (or " + Capabilities.name(Capabilities.CHECKPOINT_RESTORE) + ")");
        }
        if (missing.isEmpty()) return;
        throw new Missing(command + " needs " + String.join(" and ", missing) + ", which uid " + effectiveUid(self)
                + " does not have here: run cryo as root (nothing was touched)");
    }

    /** The line `cryo check` ends with when checkpoint or restart would be refused; null when neither is. */
    static String checkSummary() throws IOException {
        List<String> refused = new ArrayList<>();
        for (String command : List.of("checkpoint", "restart")) {
            try {
                require(command);
            } catch (Missing m) {
                refused.add(m.getMessage().substring(0, m.getMessage().indexOf(", which uid")));
            }
        }
        if (refused.isEmpty()) return null;
        return String.join("; ", refused) + ", which uid " + effectiveUid(ProcStat.read(Proc.getpid())) + " does not have here: run cryo as root";
    }

    private static String effectiveUid(ProcStat self) {
        return self.status("Uid").trim().split("\\s+")[1];
    }
}
