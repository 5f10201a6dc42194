package cryo.files;

import static org.junit.jupiter.api.Assertions.assertEquals;

import cryo.task.Subreaper;
import cryo.testing.Cleanup;
import cryo.testing.Cryo;
import cryo.testing.Fixtures;
import cryo.testing.Proc;
import cryo.testing.Timeouts;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * SQLite keeps its transactions with POSIX locks: a write transaction held open across the checkpoint (by
 * python3's sqlite3 module, or by the sqlite3 shell) must still hold its lock after restart, so that a
 * second process, outside the tree, that reads and tries to write before, while and after gets "database
 * is locked" until the restored process commits, and then writes. Row counts, PRAGMA integrity_check and an
 * F_GETLK probe (held by the restored pid) are checked, in WAL and in rollback-journal mode.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class SqliteLocksTest {
    @RegisterExtension
    @Order(1)
    final Subreaper subreaper = new Subreaper();

    @RegisterExtension
    @Order(2)
    final Cleanup cleanup = new Cleanup();

    @TempDir
    Path tmp;

    /** A client answering one line per command; every line is one os.write. */
    static final String CLIENT = """
            import os, sys, sqlite3
            def say(s):
                os.write(1, (s + '\\n').encode())
            con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0)
            con.execute('PRAGMA journal_mode=' + sys.argv[2])
            con.execute('CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, who TEXT)')
            say('READY %d' % os.getpid())
            while True:
                c = sys.stdin.readline().split()
                if not c or c[0] == 'quit':
                    say('BYE')
                    break
                try:
                    if c[0] == 'begin':
                        con.execute('BEGIN IMMEDIATE')
                        say('BEGUN')
                    elif c[0] == 'insert':
                        for i in range(int(c[1])):
                            con.execute("INSERT INTO t(who) VALUES('x')")
                        say('INSERTED')
                    elif c[0] == 'commit':
                        con.execute('COMMIT')
                        say('COMMITTED')
                    elif c[0] == 'count':
                        say('COUNT %d' % con.execute('SELECT count(*) FROM t').fetchone()[0])
                    elif c[0] == 'check':
                        say('CHECK ' + ','.join(r[0] for r in con.execute('PRAGMA integrity_check')))
                except sqlite3.OperationalError as e:
                    say('BUSY' if 'locked' in str(e) else 'ERROR ' + str(e))
            """;

    /** The same commands for the sqlite3 shell, each answered by the same line. */
    private static String shell(String command) {
        String[] c = command.split(" ");
        return switch (c[0]) {
            case "begin" -> "BEGIN IMMEDIATE;\n.print BEGUN";
            case "insert" -> "INSERT INTO t(who) SELECT 'x' FROM (WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < "
                    + c[1] + ") SELECT x FROM n);\n.print INSERTED";
            case "commit" -> "COMMIT;\n.print COMMITTED";
            case "count" -> "SELECT 'COUNT ' || count(*) FROM t;";
            case "check" -> "SELECT 'CHECK ' || (SELECT group_concat(integrity_check) FROM pragma_integrity_check());";
            case "quit" -> ".print BYE\n.quit";
            default -> throw new IllegalArgumentException(command);
        };
    }

    @BeforeEach
    void root() {
        Fixtures.assumeRoot();
    }

    private Proc python(String name, Path db, String mode) {
        Proc p = cleanup.start(name, new ProcessBuilder(Fixtures.python().toString(), "-c", CLIENT, db.toString(), mode)
                .redirectErrorStream(false));
        String l = p.await("READY", x -> x.startsWith("READY ") || x.startsWith("Traceback"));
        assertEquals("READY " + p.pid(), l, p::tails);
        return p;
    }

    private static String ask(Proc p, boolean shell, String command, String answerPrefix) {
        p.send(shell ? shell(command) : command);
        return p.await(answerPrefix, x -> x.startsWith(answerPrefix) || x.startsWith("BUSY") || x.startsWith("ERROR") || x.contains("Error"));
    }

    /** F_GETLK from outside: who holds the write transaction's lock ("W start len pid"). */
    private String writeLockHolder(Path db, String mode) {
        Path exe = Fixtures.compile(tmp, "locks", Fixtures.Build.PIE);
        // rollback journal: RESERVED_BYTE (PENDING_BYTE + 1) of the database; WAL: WAL_WRITE_LOCK, byte 120 of -shm
        String q = mode.equals("wal") ? "getlk:" + db + "-shm:R:120:1" : "getlk:" + db + ":R:1073741825:1";
        List<String> cmd = List.of(exe.toString(), "probe", q);
        Cryo.Result r = Cryo.collect(cleanup, cmd, new ProcessBuilder(cmd));
        assertEquals(0, r.exit(), r::describe);
        return r.stdout().trim().substring(q.length() + 4);
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"python, wal", "python, delete", "shell, wal", "shell, delete"})
    void anOpenTransactionKeepsItsLockAcrossTheCheckpoint(String client, String mode) {
        boolean shell = client.equals("shell");
        if (shell) Fixtures.assumeTool("sqlite3");
        Path db = tmp.resolve("test.db");
        Proc other = python("other", db, mode);
        assertEquals("INSERTED", ask(other, false, "insert 10", "INSERTED"));

        Proc tree;
        if (shell) {
            tree = cleanup.start("sqlite3", new ProcessBuilder(Fixtures.onPath("sqlite3").orElseThrow().toString(), db.toString()));
            tree.send("PRAGMA journal_mode=" + mode + ";\n.print READY " + tree.pid());
            tree.await("READY", x -> x.startsWith("READY "));
        } else {
            tree = python("tree", db, mode);
        }
        assertEquals("BEGUN", ask(tree, shell, "begin", "BEGUN"));
        assertEquals("INSERTED", ask(tree, shell, "insert 100", "INSERTED"));
        String held = (mode.equals("wal") ? "W 120 1 " : "W 1073741825 1 ") + tree.pid();
        assertEquals(held, writeLockHolder(db, mode), "the open transaction holds the write lock");
        assertEquals("BUSY", ask(other, false, "insert 1", "INSERTED"), "the open transaction keeps the other writer out");
        assertEquals("COUNT 10", ask(other, false, "count", "COUNT"));

        Path image = tmp.resolve("sqlite.img");
        Cryo.checkpoint(cleanup, tree.pid(), image);
        assertEquals(128 + 9, tree.awaitExit(Timeouts.EXIT));
        List<Long> pids = List.of(tree.pid());
        PipeFixtureTest.awaitGone(pids);
        Proc r = PipeFixtureTest.restart(cleanup, subreaper, image, pids);

        assertEquals(held, writeLockHolder(db, mode), "the restored process holds the write lock again");
        assertEquals("BUSY", ask(other, false, "insert 1", "INSERTED"), "after restart the other writer is still kept out");
        assertEquals("COUNT 10", ask(other, false, "count", "COUNT"));
        assertEquals("COUNT 110", ask(r, shell, "count", "COUNT"), "the restored transaction sees its rows");
        assertEquals("COMMITTED", ask(r, shell, "commit", "COMMITTED"));
        assertEquals("INSERTED", ask(other, false, "insert 1", "INSERTED"), "once committed the other process writes");
        assertEquals("COUNT 111", ask(other, false, "count", "COUNT"));
        assertEquals("COUNT 111", ask(r, shell, "count", "COUNT"));
        assertEquals("CHECK ok", ask(other, false, "check", "CHECK"));
        assertEquals("CHECK ok", ask(r, shell, "check", "CHECK"));
        r.send(shell ? shell("quit") : "quit");
        r.await("BYE", x -> x.equals("BYE"));
        assertEquals(0, r.awaitExit(Timeouts.EXIT));
        other.send("quit");
        other.await("BYE", x -> x.equals("BYE"));
        assertEquals(0, other.awaitExit(Timeouts.EXIT));
    }
}
