package cryo.cli;

import cryo.files.FdRecord;
import cryo.files.FileRecord;
import cryo.files.OpenFileRecord;
import cryo.files.PipeRecord;
import cryo.image.Head;
import cryo.image.ImageRecord;
import cryo.image.Tail;
import cryo.image.Tree;
import cryo.memory.MmRecord;
import cryo.memory.PagesRecord;
import cryo.memory.VmaRecord;
import cryo.sys.Regs;
import cryo.task.TaskRecord;
import cryo.task.ThreadRecord;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** `cryo show`: every record as one line of key=value, or as JSON (like CRIU's crit). */
final class Show {
    private Show() {
    }

    static void print(List<ImageRecord> records, boolean json, PrintStream out) {
        // Who holds each pipe: FD -> OPEN_FILE -> PIPE.
        Map<Integer, Integer> pipeOf = new java.util.HashMap<>();
        Map<Integer, List<Object>> holders = new java.util.HashMap<>();
        for (ImageRecord r : records) {
            if (r instanceof OpenFileRecord o && o.pipe() != 0) pipeOf.put(o.objref(), o.pipe());
            if (r instanceof FdRecord fd && pipeOf.containsKey(fd.openFile())) {
                holders.computeIfAbsent(pipeOf.get(fd.openFile()), k -> new ArrayList<>()).add(fd.pid() + ":" + fd.fd());
            }
        }
        if (json) out.println("[");
        for (int i = 0; i < records.size(); i++) {
            ImageRecord r = records.get(i);
            Map<String, Object> f = fields(r);
            if (r instanceof PipeRecord p) f.put("holders", holders.getOrDefault(p.objref(), List.of()));
            if (json) {
                out.print("  {\"type\": \"" + r.type() + "\"");
                for (var e : f.entrySet()) out.print(", " + quote(e.getKey()) + ": " + jsonValue(e.getValue()));
                out.println(i + 1 < records.size() ? "}," : "}");
            } else {
                StringBuilder sb = new StringBuilder(String.format("%-9s", r.type()));
                for (var e : f.entrySet()) sb.append(' ').append(e.getKey()).append('=').append(text(e.getValue()));
                out.println(sb);
            }
        }
        if (json) out.println("]");
        long ghosts = 0, ghostBytes = 0;
        for (ImageRecord r : records) {
            if (r instanceof cryo.files.GhostRecord g) {
                ghosts++;
                ghostBytes += g.dataBytes();
            }
        }
        if (!json && ghosts > 0) out.println("# ghost data: " + cryo.files.Ghosts.describe(ghosts, ghostBytes));
    }

    private static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }

    static Map<String, Object> fields(ImageRecord r) {
        Map<String, Object> m = new LinkedHashMap<>();
        switch (r) {
            case Head h -> {
                m.put("version", h.version());
                m.put("arch", h.arch());
                m.put("kernel", h.kernelRelease());
                m.put("page_size", h.pageSize());
                m.put("xstate_size", h.xstateSize());
                m.put("xfeatures", hex(h.xfeatures()));
                m.put("vdso_size", h.vdsoSize());
                m.put("vdso_sha256", java.util.HexFormat.of().formatHex(h.vdsoSha256()));
                m.put("time", java.time.Instant.ofEpochMilli(h.timeMillis()).toString());
                if ((h.flags() & cryo.checkpoint.Checkpoint.FLAG_OWN_IPC_NS) != 0) m.put("own_ipc_namespace", true);
            }
            case Tree t -> {
                List<Object> ps = new ArrayList<>();
                for (Tree.Process p : t.processes()) {
                    Map<String, Object> pm = new LinkedHashMap<>();
                    pm.put("pid", p.pid());
                    if (p.hostPid() != p.pid()) pm.put("host_pid", p.hostPid());
                    pm.put("comm", p.comm());
                    pm.put("ppid", p.ppid());
                    pm.put("pgid", p.pgid());
                    pm.put("sid", p.sid());
                    pm.put("exit_signal", p.exitSignal());
                    if (p.zombie()) pm.put("zombie_status", p.waitStatus());
                    if (p.zombie()) pm.put("zombie_creds", Arrays.stream(p.zombieCreds()).boxed().toList());
                    pm.put("threads", Arrays.stream(p.tids()).boxed().toList());
                    if (p.sharesFdTable()) pm.put("fd_table", p.fdTable());
                    ps.add(pm);
                }
                m.put("processes", ps);
            }
            case TaskRecord t -> {
                m.put("pid", t.pid());
                m.put("comm", t.comm());
                m.put("cwd", t.cwd());
                m.put("umask", "0" + Integer.toOctalString(t.umask()));
                m.put("uids", Arrays.stream(t.uids()).boxed().toList());
                m.put("gids", Arrays.stream(t.gids()).boxed().toList());
                if (t.groups().length > 0) m.put("groups", Arrays.stream(t.groups()).boxed().toList());
                m.put("caps", Arrays.stream(t.caps()).mapToObj(Long::toHexString).toList());
                if (t.securebits() != 0) m.put("securebits", hex(t.securebits()));
                if (t.noNewPrivs()) m.put("no_new_privs", 1);
                m.put("dumpable", t.dumpable());
                if (t.ttyForeground()) m.put("tty_foreground", 1);
                if (t.childSubreaper()) m.put("child_subreaper", 1);
                if (t.sessionLeaderGone()) m.put("session_leader_gone", 1);
                List<Object> handlers = new ArrayList<>();
                long[] sa = t.sigactions();
                for (int s = 1; s <= TaskRecord.NSIG; s++) {
                    long h = sa[4 * (s - 1)];
                    if (h != 0) handlers.add(s + ":" + (h == 1 ? "SIG_IGN" : hex(h)));
                }
                m.put("handlers", handlers);
                m.put("shared_pending", t.sharedPending().size());
            }
            case ThreadRecord t -> {
                m.put("pid", t.pid());
                m.put("tid", t.tid());
                m.put("rip", hex(t.regs()[Regs.RIP]));
                m.put("rsp", hex(t.regs()[Regs.RSP]));
                m.put("rax", hex(t.regs()[Regs.RAX]));
                m.put("orig_rax", t.regs()[Regs.ORIG_RAX]);
                m.put("fs_base", hex(t.regs()[Regs.FS_BASE]));
                m.put("sigmask", hex(t.sigmask()));
                m.put("pending", t.pending().size());
                m.put("xstate_bytes", t.xstate().length);
                if (t.rseqPointer() != 0) m.put("rseq", hex(t.rseqPointer()));
            }
            case MmRecord mm -> {
                m.put("pid", mm.pid());
                String[] names = {"start_code", "end_code", "start_data", "end_data", "start_brk", "brk", "start_stack",
                        "arg_start", "arg_end", "env_start", "env_end"};
                for (int i = 0; i < names.length; i++) m.put(names[i], hex(mm.fields()[i]));
                m.put("auxv_words", mm.auxv().length);
                m.put("exe_file", mm.exeFile());
            }
            case VmaRecord v -> {
                m.put("pid", v.pid());
                m.put("range", hex(v.start()) + "-" + hex(v.end()));
                m.put("prot", ((v.prot() & 1) != 0 ? "r" : "-") + ((v.prot() & 2) != 0 ? "w" : "-") + ((v.prot() & 4) != 0 ? "x" : "-"));
                m.put("flags", (v.shared() ? "shared" : "private") + ((v.flags() & VmaRecord.MAP_GROWSDOWN) != 0 ? ",growsdown" : ""));
                m.put("kind", v.kind().toString());
                if (v.file() != 0) {
                    m.put("file", v.file());
                    m.put("pgoff", v.pgoff());
                }
                if (v.kind() == VmaRecord.Kind.SHMEM || v.kind() == VmaRecord.Kind.SYSV) m.put("pgoff", v.pgoff());
                if (v.shmem() != 0) m.put("shmem", v.shmem());
                List<String> vmFlags = new ArrayList<>();
                for (int i = 0; i < VmaRecord.VM_FLAG_NAMES.size(); i++) if (v.has(1 << i)) vmFlags.add(VmaRecord.VM_FLAG_NAMES.get(i));
                if (!vmFlags.isEmpty()) m.put("vm_flags", String.join(",", vmFlags));
            }
            case cryo.memory.ShmemRecord s -> {
                m.put("id", s.id());
                m.put("inode", s.inode());
                m.put("size", s.size());
            }
            case cryo.memory.InheritedRecord in -> {
                m.put("pid", in.pid());
                m.put("addr", hex(in.addr()));
                m.put("pages", in.len() / 4096);
            }
            case cryo.memory.ShmemPagesRecord p -> {
                m.put("id", p.id());
                m.put("offset", p.offset());
                m.put("pages", p.data().byteSize() / 4096);
                m.put("crc32c", hex(Integer.toUnsignedLong(p.crc())));
            }
            case cryo.precopy.PreCopyPagesRecord p -> {
                m.put("pid", p.pid());
                m.put("addr", hex(p.addr()));
                m.put("pages", p.data().byteSize() / 4096);
                m.put("crc32c", hex(Integer.toUnsignedLong(p.crc())));
            }
            case cryo.precopy.PreCopyRecord p -> m.putAll(p.fields());
            case PagesRecord p -> {
                m.put("pid", p.pid());
                m.put("addr", hex(p.addr()));
                m.put("pages", p.pages());
                m.put("crc32c", hex(Integer.toUnsignedLong(p.crc())));
            }
            case FileRecord f -> {
                m.put("objref", f.objref());
                m.put("path", f.path());
                if (f.host()) m.put("host", 1);
                m.put("mode", "0" + Integer.toOctalString(f.mode()));
                m.put("dev", f.dev());
                m.put("ino", f.ino());
                m.put("size", f.size());
            }
            case OpenFileRecord o -> {
                m.put("objref", o.objref());
                m.put("kind", o.kind().toString());
                if (o.file() != 0) m.put("file", o.file());
                if (o.pipe() != 0) m.put("pipe", o.pipe());
                if (o.kind() == OpenFileRecord.Kind.INHERITED) m.put("inherit_fd", o.inheritFd());
                m.put("flags", "0" + Integer.toOctalString(o.flags()));
                m.put("pos", o.pos());
                m.put("what", o.description());
            }
            case PipeRecord p -> {
                m.put("objref", p.objref());
                m.put("inode", p.inode());
                m.put("capacity", p.capacity());
                m.put("buffered", p.data().length);
            }
            case cryo.ipc.IpcRecord i -> {
                m.put("kind", i.kind().toString());
                m.put("id", i.id());
                m.put("key", "0x" + Integer.toHexString(i.key()));
                m.put("uid", i.uid());
                m.put("gid", i.gid());
                m.put("mode", "0" + Integer.toOctalString(i.mode()));
                switch (i.kind()) {
                    case MSG -> {
                        m.put("messages", i.messages().size());
                        m.put("cbytes", i.size());
                        m.put("qbytes", i.qbytes());
                    }
                    case SEM -> m.put("values", java.util.stream.IntStream.range(0, i.values().length).mapToObj(k -> (Object) (int) i.values()[k]).toList());
                    case SHM -> {
                        m.put("size", i.size());
                        if ((i.mode() & cryo.ipc.IpcRecord.SHM_DEST) != 0) m.put("destroyed", true);
                    }
                }
                m.put("creator_not_restored", i.cuid() + ":" + i.cgid());
                m.put("times_not_restored", java.util.Arrays.stream(i.times()).limit(i.kind() == cryo.ipc.IpcRecord.Kind.SEM ? 2 : 3).boxed().toList());
                m.put("pids_not_restored", java.util.Arrays.stream(i.pids()).boxed().toList());
            }
            case cryo.ipc.IpcLimitsRecord l -> l.values().forEach((k, v) -> m.put(k, v.replace('\t', ' ')));
            case cryo.ipc.ShmPagesRecord p -> {
                m.put("id", p.id());
                m.put("offset", p.offset());
                m.put("pages", p.data().byteSize() / 4096);
                m.put("crc32c", hex(Integer.toUnsignedLong(p.crc())));
            }
            case cryo.files.GhostRecord g -> {
                m.put("objref", g.objref());
                m.put("path", g.path() + (g.tmpfile() ? " (O_TMPFILE)" : " (deleted)"));
                m.put("mode", "0" + Integer.toOctalString(g.mode()));
                m.put("owner", g.uid() + ":" + g.gid());
                m.put("size", g.size());
                m.put("data_bytes", g.dataBytes());
            }
            case cryo.files.GhostDataRecord d -> {
                m.put("ghost", d.ghost());
                m.put("offset", d.offset());
                m.put("bytes", d.data().byteSize());
                m.put("crc32c", hex(Integer.toUnsignedLong(d.crc())));
            }
            case cryo.files.MemfdRecord mf -> {
                m.put("objref", mf.objref());
                m.put("name", mf.name());
                m.put("inode", mf.inode());
                m.put("size", mf.size());
                m.put("data_bytes", mf.dataBytes());
                m.put("seals", hex(mf.seals()));
                m.put("mode", "0" + Integer.toOctalString(mf.mode()));
                m.put("owner", mf.uid() + ":" + mf.gid());
            }
            case cryo.files.MemfdDataRecord d -> {
                m.put("memfd", d.memfd());
                m.put("offset", d.offset());
                m.put("bytes", d.data().byteSize());
                m.put("crc32c", hex(Integer.toUnsignedLong(d.crc())));
            }
            case cryo.files.UnlinkedFifoRecord uf -> {
                m.put("objref", uf.objref());
                m.put("path", uf.path());
                m.put("pipe", uf.pipe());
                m.put("mode", "0" + Integer.toOctalString(uf.mode()));
                m.put("owner", uf.uid() + ":" + uf.gid());
            }
            case cryo.task.DeletedRootRecord dr -> m.put("pid", dr.pid());
            case cryo.task.JobStopRecord js -> {
                m.put("pid", js.pid());
                m.put("signal", js.signal());
                m.put("terminal", js.terminal());
            }
            case cryo.files.InotifyWatchRecord iw -> iw.show(m);
            case cryo.ns.NamespacesRecord ns -> {
                m.put("own", ns.own().stream().map(n -> n.proc).toList());
                if (ns.has(cryo.ns.Namespace.UTS)) m.put("hostname", ns.hostname());
                if (ns.has(cryo.ns.Namespace.UTS)) m.put("domainname", ns.domainname());
                if (ns.has(cryo.ns.Namespace.NET)) m.put("loopback", ns.loopbackUp() ? "up" : "down");
            }
            case cryo.task.DeletedCwdRecord dc -> {
                m.put("pid", dc.pid());
                m.put("path", dc.path());
                m.put("mode", "0" + Integer.toOctalString(dc.mode()));
                m.put("owner", dc.uid() + ":" + dc.gid());
            }
            case FdRecord f -> {
                m.put("pid", f.pid());
                m.put("fd", f.fd());
                m.put("open_file", f.openFile());
                m.put("cloexec", f.cloexec());
            }
            case cryo.files.LockRecord l -> {
                m.put("pid", l.pid());
                m.put("kind", l.kind().toString());
                m.put("open_file", l.openFile());
                m.put("type", l.kind() == cryo.files.LockRecord.Kind.FLOCK ? (l.write() ? "exclusive" : "shared") : (l.write() ? "write" : "read"));
                m.put("start", l.start());
                m.put("len", l.len());
            }
            case cryo.mounts.MountsRecord mr -> m.putAll(cryo.mounts.MountsShow.fields(mr));
            case cryo.files.EventLoopRecord e -> m.putAll(cryo.files.EventLoopDump.fields(e));
            case cryo.files.TimerfdRecord t -> m.putAll(t.fields());
            case cryo.files.SignalfdRecord s -> m.putAll(s.fields());
            case cryo.timers.PosixTimerRecord t -> m.putAll(t.fields());
            case cryo.sockets.SocketRecord s -> m.putAll(cryo.sockets.SocketShow.fields(s));
            case cryo.netlock.NetLockRecord l -> m.putAll(l.fields());
            case cryo.inet.UdpRecord u -> m.putAll(cryo.inet.UdpShow.fields(u));
            case cryo.inet.TcpRecord t -> m.putAll(cryo.inet.TcpShow.fields(t));
            case cryo.tty.TerminalRecord t -> m.putAll(t.fields());
            case cryo.tty.TtyRecord t -> m.putAll(t.fields());
            case Tail t -> {
                m.put("length", t.length());
                m.put("crc32c", hex(Integer.toUnsignedLong(t.crc32c())));
            }
        }
        return m;
    }

    private static String text(Object v) {
        if (v instanceof String s) return s.contains(" ") || s.isEmpty() ? quote(s) : s;
        if (v instanceof List<?> l) {
            StringBuilder sb = new StringBuilder("[");
            for (int i = 0; i < l.size(); i++) sb.append(i > 0 ? "," : "").append(text(l.get(i)));
            return sb.append(']').toString();
        }
        if (v instanceof Map<?, ?> mp) {
            StringBuilder sb = new StringBuilder("{");
            int i = 0;
            for (var e : mp.entrySet()) sb.append(i++ > 0 ? " " : "").append(e.getKey()).append('=').append(text(e.getValue()));
            return sb.append('}').toString();
        }
        return String.valueOf(v);
    }

    private static String jsonValue(Object v) {
        if (v instanceof String s) return quote(s);
        if (v instanceof List<?> l) {
            StringBuilder sb = new StringBuilder("[");
            for (int i = 0; i < l.size(); i++) sb.append(i > 0 ? ", " : "").append(jsonValue(l.get(i)));
            return sb.append(']').toString();
        }
        if (v instanceof Map<?, ?> mp) {
            StringBuilder sb = new StringBuilder("{");
            int i = 0;
            for (var e : mp.entrySet()) sb.append(i++ > 0 ? ", " : "").append(quote(e.getKey().toString())).append(": ").append(jsonValue(e.getValue()));
            return sb.append('}').toString();
        }
        return String.valueOf(v);
    }

    private static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        return sb.append('"').toString();
    }
}
