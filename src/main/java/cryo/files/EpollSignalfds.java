package cryo.files;

import cryo.image.Image;
import cryo.image.ImageException;
import cryo.remote.Tracee;
import cryo.sys.EventPoll;
import cryo.sys.Ptrace;
import cryo.sys.SysException;
import cryo.task.ThreadRecord;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * The epoll items that watch a signalfd. A signalfd is ready for the signals pending for the task that polls
 * it, and an epoll item waits on the signalfd wait queue of the task that added it (fs/signalfd.c
 * signalfd_poll(): current->sighand; fs/eventpoll.c ep_insert() polls the file in the caller's context). So
 * such an item is added not from cryo (EpollItems) but by a remote epoll_ctl(EPOLL_CTL_ADD) in a task of the
 * restored tree: the process with the lowest pid that holds both the epoll (at any fd) and the signalfd at the
 * item's fd number, once its fds, threads and pending signals are back. That process's sighand is the one the
 * item waits on after restart, whichever process of the tree added it before (a process sharing the epoll
 * that never had the signalfd cannot have added it under that number; among those that could, cryo cannot
 * tell). The call runs in the thread whose own pending signals the signalfd reads, else in the leader, so
 * that an item ready at checkpoint (a signal pending) is on the epoll's ready list again.
 */
public final class EpollSignalfds {
    private static final int SC_EVENT = 0;

    private EpollSignalfds() {
    }

    /** One item to add in process pid: the epoll's fd there, and the item. */
    record Add(int pid, int epollFd, EpollTargetRecord item) {
    }

    /** Whether the epoll items of kind `target` are added by a task rather than by cryo. */
    static boolean addedByTask(OpenFileRecord target) {
        return target.kind() == OpenFileRecord.Kind.SIGNALFD;
    }

    /**
     * The process that adds each item on a signalfd, by the rule above, from the FD records; null if no
     * process holds both at the item's numbers. fds: every process's fds (pid -> fd -> objref).
     */
    static Add adder(Map<Integer, Map<Integer, Integer>> fds, EpollTargetRecord t) {
        for (var p : new TreeMap<>(fds).entrySet()) {
            Integer target = p.getValue().get(t.tfd());
            if (target == null || target != t.target()) continue;
            for (var fd : new TreeMap<>(p.getValue()).entrySet()) {
                if (fd.getValue() == t.epoll()) return new Add(p.getKey(), fd.getKey(), t);
            }
        }
        return null;
    }

    /** Every process's fds of an image (pid -> fd -> objref), zombies aside. */
    private static Map<Integer, Map<Integer, Integer>> fds(Image img) {
        Map<Integer, Map<Integer, Integer>> out = new TreeMap<>();
        for (Image.ProcessImage p : img.processes.values()) {
            if (p.entry.zombie()) continue;
            for (FdRecord f : p.fds) out.computeIfAbsent(p.entry.pid(), k -> new TreeMap<>()).put(f.fd(), f.openFile());
        }
        return out;
    }

    /**
     * Image check: every item on a signalfd has a process to add it, and cryo never polls its epoll (see
     * EventLoopDump.refuseOnSignalfd): no fired EPOLLONESHOT item in it, no epoll watching it.
     */
    static void check(Image img, Map<Integer, List<EpollTargetRecord>> epolls) throws ImageException {
        Map<Integer, Map<Integer, Integer>> fds = fds(img);
        for (List<EpollTargetRecord> items : epolls.values()) {
            for (EpollTargetRecord t : items) {
                if (!addedByTask(img.openFiles.get(t.target()))) continue;
                String item = "record EPOLL_TARGET: epoll " + t.epoll() + " watches signalfd OPEN_FILE " + t.target();
                if (items.stream().anyMatch(EpollTargetRecord::disabled)) throw new ImageException(item + " beside a fired EPOLLONESHOT item, which restart cannot make");
                if (epolls.values().stream().flatMap(List::stream).anyMatch(o -> o.target() == t.epoll())) {
                    throw new ImageException(item + ", and another epoll watches it");
                }
                if (adder(fds, t) == null) {
                    throw new ImageException(item + " as fd " + t.tfd() + ", and no process holds both the epoll and that signalfd at fd " + t.tfd());
                }
            }
        }
    }

    /**
     * Adds the items on signalfds that process p adds, in its task leader (threads: its other threads, final
     * registers loaded), once its fds, threads and pending signals are back and before its credentials drop.
     */
    public static void add(Tracee leader, List<Tracee> threads, Image.ProcessImage p, Image img) throws SysException {
        Map<Integer, Map<Integer, Integer>> fds = fds(img);
        List<Add> adds = new ArrayList<>();
        for (List<EpollTargetRecord> items : img.eventLoops.epolls().values()) {
            for (EpollTargetRecord t : items) {
                if (!addedByTask(img.openFiles.get(t.target()))) continue;
                Add a = adder(fds, t);
                if (a != null && a.pid() == p.entry.pid()) adds.add(a);
            }
        }
        for (Add a : adds) {
            long mask = img.signalfds.get(img.openFiles.get(a.item().target()).file()).sigmask();
            Tracee in = thread(leader, threads, p, mask);
            MemorySegment ev = MemorySegment.ofArray(new byte[12]);   // struct epoll_event is packed on x86_64
            ev.set(JAVA_INT_UNALIGNED, 0, a.item().events());
            ev.set(JAVA_LONG_UNALIGNED, 4, a.item().data());
            long addr = in.put(SC_EVENT, ev);
            String name = "epoll_ctl(" + a.epollFd() + ", EPOLL_CTL_ADD, " + a.item().tfd() + ", 0x" + Integer.toHexString(a.item().events()) + ")";
            if (in == leader) {
                in.syscall(name, EventPoll.EPOLL_CTL, a.epollFd(), EventPoll.EPOLL_CTL_ADD, a.item().tfd(), addr);
            } else {
                // A thread's final registers are loaded already: they are put back at the exit of the call.
                long r = in.call(EventPoll.EPOLL_CTL, Ptrace.getRegs(in.tid), a.epollFd(), EventPoll.EPOLL_CTL_ADD, a.item().tfd(), addr);
                if (r < 0) throw new SysException("remote " + name + " in task " + in.tid, (int) -r);
            }
        }
    }

    /** The first thread with a signal of mask pending for itself alone, else the leader. */
    private static Tracee thread(Tracee leader, List<Tracee> threads, Image.ProcessImage p, long mask) {
        for (ThreadRecord th : p.threads) {
            for (byte[] si : th.pending()) {
                int signo = ByteBuffer.wrap(si).order(ByteOrder.LITTLE_ENDIAN).getInt(0);
                if ((mask & (1L << (signo - 1))) == 0) continue;
                if (th.tid() == leader.nsTid) return leader;
                for (Tracee t : threads) if (t.nsTid == th.tid()) return t;
            }
        }
        return leader;
    }
}
