package cryo.memory;

import cryo.image.Decoder;
import cryo.image.Encoder;
import cryo.image.ImageException;
import cryo.image.ImageRecord;
import cryo.image.RecordType;
import cryo.image.Tree;

/**
 * MM: the fields of struct prctl_mm_map (linux/prctl.h) in its order — start_code, end_code, start_data,
 * end_data, start_brk, brk, start_stack, arg_start, arg_end, env_start, env_end — with the auxv words and
 * the objref of the executable's FILE record.
 */
public record MmRecord(int pid, long[] fields, long[] auxv, int exeFile) implements ImageRecord, cryo.image.HoldsPids {
    public static final int START_CODE = 0, END_CODE = 1, START_DATA = 2, END_DATA = 3, START_BRK = 4, BRK = 5,
            START_STACK = 6, ARG_START = 7, ARG_END = 8, ENV_START = 9, ENV_END = 10;
    static final String[] NAMES = {"start_code", "end_code", "start_data", "end_data", "start_brk", "brk",
            "start_stack", "arg_start", "arg_end", "env_start", "env_end"};

    public MmRecord withPids(java.util.function.IntUnaryOperator toImage) {
        return new MmRecord(toImage.applyAsInt(pid), fields, auxv, exeFile);
    }

    public RecordType type() {
        return RecordType.MM;
    }

    public void encode(Encoder e) {
        e.u32(pid).u32(exeFile).longs(fields).longs(auxv);
    }

    public static MmRecord decode(Decoder d) throws ImageException {
        int pid = d.u32("pid", 1, Tree.PID_MAX_LIMIT);
        int exe = d.u32("exe_file", 1, Integer.MAX_VALUE);
        long[] f = d.longs("fields", NAMES.length);
        if (f.length != NAMES.length) throw d.error("fields", "has " + f.length + " words, not " + NAMES.length);
        for (int i = 0; i < f.length; i++) {
            if (f[i] < 0 || f[i] >= Vmas.TASK_SIZE) throw d.error(NAMES[i], "0x" + Long.toHexString(f[i]) + " is outside user space");
        }
        // The pairs prctl(PR_SET_MM_MAP) checks in validate_prctl_map_addr() (kernel/sys.c).
        int[][] ordered = {{START_CODE, END_CODE}, {START_DATA, END_DATA}, {START_BRK, BRK}, {ARG_START, ARG_END}, {ENV_START, ENV_END}};
        for (int[] p : ordered) {
            if (f[p[0]] > f[p[1]]) throw d.error(NAMES[p[1]], "is below " + NAMES[p[0]]);
        }
        long[] auxv = d.longs("auxv", 256);
        if (auxv.length % 2 != 0) throw d.error("auxv", "has an odd number of words");
        return new MmRecord(pid, f, auxv, exe);
    }
}
