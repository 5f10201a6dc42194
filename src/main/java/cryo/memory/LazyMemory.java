package cryo.memory;

import cryo.remote.Tracee;
import cryo.sys.SysException;

import java.util.List;

/** Memory a restart leaves for first touch (cryo.lazy): the hook that registers it in a freshly mapped task. */
public interface LazyMemory {
    LazyMemory NONE = (t, pages) -> pages;

    /** Called once t's VMAs are mapped, before its pages are written: returns the pages to write now. */
    List<PagesRecord> defer(Tracee t, List<PagesRecord> pages) throws SysException;
}
