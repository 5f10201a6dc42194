package cryo.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** uname(2) of the calling thread's UTS namespace: the host name and NIS domain name it shows. */
public final class Uts {
    /** struct utsname: six fields of __NEW_UTS_LEN + 1 bytes (include/uapi/linux/utsname.h). */
    private static final int FIELD = 65, NODENAME = 1, DOMAINNAME = 5;

    /** The two names a UTS namespace holds; each at most 64 bytes. */
    public record Names(String hostname, String domainname) {
    }

    private Uts() {
    }

    public static Names uname() throws SysException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(6 * FIELD);
            Native.check(Native.raw(Nr.UNAME, buf.address()), "uname");
            return new Names(buf.getString(NODENAME * FIELD), buf.getString(DOMAINNAME * FIELD));
        }
    }
}
