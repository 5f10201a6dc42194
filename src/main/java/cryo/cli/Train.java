package cryo.cli;

import cryo.checkpoint.Checkpoint;
import cryo.checkpoint.Output;
import cryo.image.Image;
import cryo.image.ImageReader;
import cryo.restart.Restart;
import cryo.sys.Proc;
import cryo.sys.Spawn;
import cryo.sys.Wait;

import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * `cryo __train DIR`: one checkpoint, restart and show of a `sleep`, in one JVM. bin/build runs it with
 * -XX:AOTCacheOutput so that the classes and linked call sites cryo needs come from the AOT cache at start-up.
 */
final class Train {
    private Train() {
    }

    static int run(String dir) throws Exception {
        Path img = Path.of(dir, "train.img");
        int pid = Spawn.spawnClean("/bin/sleep", new String[]{"sleep", "1000"});
        try {
            Checkpoint.run(pid, new Checkpoint.Options(false, false, cryo.ipc.Ipc.Selection.NONE, java.util.Set.of(), null, s -> { }), Output.of(img.toString()));
        } catch (Exception e) {
            Proc.kill(pid, Proc.SIGKILL);
            Wait.blocking(pid);
            throw e;
        }
        try (Arena arena = Arena.ofShared()) {
            var records = ImageReader.read(ImageReader.map(img.toString(), arena), ImageReader.Data.LATER);
            Show.print(records, true, new PrintStream(OutputStream.nullOutputStream()));
            int restored = Restart.run(Image.of(records), new Restart.Options(false, java.util.Map.of(), s -> { }));
            Proc.kill(restored, Proc.SIGKILL);
            Wait.blocking(restored);
        } finally {
            Files.deleteIfExists(img);
        }
        return 0;
    }
}
