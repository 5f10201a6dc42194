package cryo.restart;

import cryo.image.Image;
import cryo.image.ImageException;
import cryo.memory.Vdso;
import cryo.memory.VmaRecord;
import cryo.sys.SysException;
import cryo.sys.Xfeatures;

import java.io.IOException;

/**
 * Is this machine one the image's processes can run on: the same vdso code (the restored processes get this
 * kernel's, Vdso), and every XSAVE component their registers use available on this CPU (a PTRACE_SETREGSET
 * of NT_X86_XSTATE with others is refused, and the code that used them would fault). The page size is
 * HEAD's decoder's (4096), the xstate size Restart's (the stub's buffer). A different kernel release with
 * the same vdso is only a warning (Preflight).
 */
final class MachineCheck {
    private MachineCheck() {
    }

    static void check(Image image) throws ImageException, IOException, SysException {
        long supported = Xfeatures.supported();
        long missing = image.head.xfeatures() & ~supported;
        if (missing != 0) {
            throw new ImageException("image: CPU features differ: its registers use XSAVE components 0x" + Long.toHexString(image.head.xfeatures())
                    + ", this CPU has 0x" + Long.toHexString(supported) + " (missing 0x" + Long.toHexString(missing) + ")");
        }
        boolean mapsVdso = image.processes.values().stream().anyMatch(p -> p.vmas.stream().anyMatch(VmaRecord::isVdso));
        if (!mapsVdso || image.head.vdsoSize() == 0) return;
        Vdso mine = Vdso.ofThisKernel();
        if (!mine.same(image.head.vdsoSize(), image.head.vdsoSha256())) {
            throw new ImageException("image: vdso differs: image taken with a vdso of " + Vdso.describe(image.head.vdsoSize(), image.head.vdsoSha256())
                    + ", this kernel's is " + Vdso.describe(mine.size(), mine.sha256()) + "; restored processes would call into the wrong code");
        }
    }
}
