/*
 * File locks of every kind, for LocksTest. Modes:
 *
 *   locks hold DIR        a tree holding locks of every kind on files in DIR (see hold()); prints
 *                         "READY <pid> <c1> <c2> <c3>" and answers on stdin: verify, relock, release, quit.
 *   locks one KIND DIR    holds one lock (posix / ofd: write lock on bytes 10-19; flock: exclusive) on
 *                         DIR/one; prints "READY <pid>"; answers ping, quit.
 *   locks lease DIR       holds a read lease on DIR/leased; prints "READY <pid>"; answers ping, quit.
 *   locks mapped KIND DIR holds a lock (flock: exclusive; ofd: write lock on the whole file; none) on
 *                         DIR/mapped through a description that only a shared mapping keeps (the fd is
 *                         closed); prints "READY <pid>"; answers ping, quit.
 *   locks take KIND FILE TYPE START LEN
 *                         takes one lock (posix, ofd; flock with TYPE sh/ex) without waiting, prints
 *                         "TAKEN <pid>" (or "TAKE-FAIL errno"), holds it until stdin ends.
 *   locks probe QUERY...  from outside: for each query prints "QUERY -> ANSWER":
 *                         getlk:FILE:R|W:START:LEN and ofdgetlk:... answer "U" or "R|W START LEN PID"
 *                         (F_GETLK / F_OFD_GETLK on a new description); flock:FILE:sh|ex answers FREE or
 *                         BUSY (flock LOCK_NB on a new description, let go at once).
 *
 * Every output line is one write(2): the test reads lines that a checkpoint may fall between.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void say(const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n > (int) sizeof buf - 2) n = sizeof buf - 2;
    buf[n++] = '\n';
    if (write(1, buf, n) != n) _exit(3);
}

static void die(const char *what) {
    say("SETUP-FAIL %s: %s", what, strerror(errno));
    _exit(2);
}

/* One line from fd (at most size-1 bytes, without the newline); 0 at end of input. */
static int readline(int fd, char *buf, size_t size) {
    size_t n = 0;
    while (n < size - 1) {
        ssize_t r = read(fd, buf + n, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (n == 0) return 0;
            break;
        }
        if (buf[n] == '\n') break;
        n++;
    }
    buf[n] = 0;
    return 1;
}

static void sendline(int fd, const char *s) {
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s\n", s);
    if (write(fd, buf, n) != n) _exit(4);
}

static char dir[1024];

static int openf(const char *name, int flags) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, flags | O_CREAT, 0600);
    if (fd < 0) die(p);
    return fd;
}

static int setlk(int fd, int cmd, short type, off_t start, off_t len) {
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len, .l_pid = 0};
    return fcntl(fd, cmd, &fl);
}

/* F_GETLK / F_OFD_GETLK: the type of the lock in the way (F_UNLCK: none). */
static short getlk(int fd, int cmd, short type, off_t start, off_t len) {
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len, .l_pid = 0};
    if (fcntl(fd, cmd, &fl) < 0) return -1;
    return fl.l_type;
}

/* ------------------------------------------------------------------ hold */

static char fails[4096];

static void fail(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    strncat(fails, "; ", sizeof fails - strlen(fails) - 1);
    strncat(fails, buf, sizeof fails - strlen(fails) - 1);
}

/* Checks from inside that description fd holds a flock lock of the file: a new description cannot lock
 * the file exclusively; once fd lets go it can (alone) or still cannot (another description holds a shared
 * lock too); then fd takes its lock again. (A new description is used only where this process holds no
 * POSIX lock on the file: closing it would drop them.) */
static int fresh_ex_free(const char *name) {
    int other = openf(name, O_RDONLY);
    int r = flock(other, LOCK_EX | LOCK_NB);
    close(other);
    return r == 0;
}

static void flock_is_mine(int fd, int mode, int alone, const char *name) {
    if (fresh_ex_free(name)) fail("%s: a new description got LOCK_EX: nobody holds the file", name);
    if (flock(fd, LOCK_UN)) fail("%s: LOCK_UN: %s", name, strerror(errno));
    if (fresh_ex_free(name) != alone) fail(alone ? "%s: still locked once its holder let go" : "%s: free once one holder let go: the other held nothing", name);
    if (flock(fd, mode | LOCK_NB) != 0) fail("%s: flock(%s) again: %s", name, mode == LOCK_EX ? "EX" : "SH", strerror(errno));
}

/* Checks that the OFD write lock on [start, start+len) belongs to description fd. */
static void ofd_is_mine(int fd, off_t start, off_t len, const char *name) {
    short own = getlk(fd, F_OFD_GETLK, F_WRLCK, start, len);
    if (own != F_UNLCK) fail("%s: F_OFD_GETLK on the holder's fd finds a conflicting lock (%d)", name, own);
    int other = openf(name, O_RDWR);
    short seen = getlk(other, F_OFD_GETLK, F_WRLCK, start, len);
    if (seen != F_WRLCK) fail("%s: F_OFD_GETLK on a new description finds %d, not the write lock", name, seen);
    close(other);
}

struct child {
    pid_t pid;
    int cmd, reply;
};

/* Forks a child that runs body(cmd, reply) with a command pipe from the parent and a reply pipe to it. */
static struct child spawn(void (*body)(int, int)) {
    int c[2], r[2];
    if (pipe(c) || pipe(r)) die("pipe");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        close(c[1]);
        close(r[0]);
        body(c[0], r[1]);
        _exit(0);
    }
    close(c[0]);
    close(r[1]);
    return (struct child){pid, c[1], r[0]};
}

static int fd_shared, fd_handed;

/* c1 shares the description of "shared" with the parent (flock + OFD lock on it) and holds a POSIX write
 * lock of its own on bytes 20-29. */
static void child_shared(int cmd, int reply) {
    if (setlk(fd_shared, F_SETLK, F_WRLCK, 20, 10) < 0) die("c1 F_SETLK shared");
    sendline(reply, "R");
    char line[256];
    while (readline(cmd, line, sizeof line)) {
        fails[0] = 0;
        if (!strcmp(line, "verify")) {
            if (flock(fd_shared, LOCK_EX | LOCK_NB) != 0) fail("c1: flock(EX) on the shared description: %s", strerror(errno));
            if (getlk(fd_shared, F_OFD_GETLK, F_WRLCK, 0, 10) != F_UNLCK) fail("c1: the shared description's OFD lock is in its own way");
            if (getlk(fd_shared, F_GETLK, F_WRLCK, 20, 10) != F_UNLCK) fail("c1: F_GETLK finds its own POSIX lock in the way");
        } else if (!strcmp(line, "relock")) {
            if (setlk(fd_shared, F_SETLK, F_UNLCK, 20, 10) || setlk(fd_shared, F_SETLK, F_WRLCK, 20, 10)) fail("c1 relock: %s", strerror(errno));
        }
        char out[4200];
        snprintf(out, sizeof out, "%s", fails[0] ? fails + 2 : "OK");
        sendline(reply, out);
    }
}

/* c2 holds the description of "handed", whose shared flock lock the parent took before it closed its fd. */
static void child_handed(int cmd, int reply) {
    sendline(reply, "R");
    char line[256];
    while (readline(cmd, line, sizeof line)) {
        fails[0] = 0;
        if (!strcmp(line, "verify")) flock_is_mine(fd_handed, LOCK_SH, 1, "handed");
        char out[4200];
        snprintf(out, sizeof out, "%s", fails[0] ? fails + 2 : "OK");
        sendline(reply, out);
    }
}

/* c3 waits in F_SETLKW for bytes 100-149 of "posix", which the parent holds, and reports when it has them. */
static void child_waiter(int cmd, int reply) {
    int fd = openf("posix", O_RDWR);
    while (setlk(fd, F_SETLKW, F_WRLCK, 100, 50) < 0) {
        if (errno != EINTR) die("c3 F_SETLKW");
    }
    sendline(reply, "GOT");
    char line[256];
    while (readline(cmd, line, sizeof line)) sendline(reply, "OK");
}

static void await_reply(struct child *c, const char *want, const char *who) {
    char line[4200];
    if (!readline(c->reply, line, sizeof line)) {
        fail("%s: no reply", who);
        return;
    }
    if (want && strcmp(line, want)) fail("%s: %s", who, line);
}

/* Waits (bounded) until /proc/locks shows pid blocked on a POSIX lock. */
static void await_blocked(pid_t pid) {
    char want[64];
    snprintf(want, sizeof want, " %d ", pid);
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 20000; i++) {
        FILE *f = fopen("/proc/locks", "r");
        char l[512];
        int found = 0;
        while (f && fgets(l, sizeof l, f)) {
            if (strstr(l, "-> POSIX") && strstr(l, want)) found = 1;
        }
        if (f) fclose(f);
        if (found) return;
        nanosleep(&ms, NULL);
    }
    errno = ETIMEDOUT;
    die("c3 never blocked in F_SETLKW");
}

static int hold(void) {
    /* POSIX locks of this process: read 0-9, write 100-149, write 200-EOF (and a dup of the fd). */
    int fp = openf("posix", O_RDWR);
    if (setlk(fp, F_SETLK, F_RDLCK, 0, 10) || setlk(fp, F_SETLK, F_WRLCK, 100, 50) || setlk(fp, F_SETLK, F_WRLCK, 200, 0)) die("F_SETLK posix");
    if (dup(fp) < 0) die("dup");
    /* OFD locks: write 0-49 and read 60-69 on one description, read 60-69 on a second one. */
    int fo = openf("ofd", O_RDWR), fo2 = openf("ofd", O_RDONLY);
    if (setlk(fo, F_OFD_SETLK, F_WRLCK, 0, 50) || setlk(fo, F_OFD_SETLK, F_RDLCK, 60, 10) || setlk(fo2, F_OFD_SETLK, F_RDLCK, 60, 10)) die("F_OFD_SETLK ofd");
    /* flock: shared by two descriptions; exclusive on another file. */
    int fs1 = openf("flock_sh", O_RDONLY), fs2 = openf("flock_sh", O_RDONLY), fx = openf("flock_ex", O_RDONLY);
    if (flock(fs1, LOCK_SH | LOCK_NB) || flock(fs2, LOCK_SH | LOCK_NB) || flock(fx, LOCK_EX | LOCK_NB)) die("flock");
    /* A description shared with c1: exclusive flock and an OFD write lock on 0-9. */
    fd_shared = openf("shared", O_RDWR);
    if (flock(fd_shared, LOCK_EX | LOCK_NB) || setlk(fd_shared, F_OFD_SETLK, F_WRLCK, 0, 10)) die("lock shared");
    struct child c1 = spawn(child_shared);
    /* A description handed to c2: the parent takes a shared flock, forks, and closes its own fd. */
    fd_handed = openf("handed", O_RDONLY);
    if (flock(fd_handed, LOCK_SH | LOCK_NB)) die("flock handed");
    struct child c2 = spawn(child_handed);
    close(fd_handed);
    struct child c3 = spawn(child_waiter);
    fails[0] = 0;
    await_reply(&c1, "R", "c1");
    await_reply(&c2, "R", "c2");
    if (fails[0]) {
        say("SETUP-FAIL %s", fails + 2);
        return 2;
    }
    await_blocked(c3.pid);
    say("READY %d %d %d %d", getpid(), c1.pid, c2.pid, c3.pid);
    int released = 0;
    char line[256];
    while (readline(0, line, sizeof line)) {
        fails[0] = 0;
        if (!strcmp(line, "verify")) {
            flock_is_mine(fx, LOCK_EX, 1, "flock_ex");
            flock_is_mine(fs1, LOCK_SH, 0, "flock_sh");
            flock_is_mine(fs2, LOCK_SH, 0, "flock_sh");
            ofd_is_mine(fo, 0, 50, "ofd");
            if (getlk(fo, F_OFD_GETLK, F_WRLCK, 60, 10) != F_RDLCK) fail("ofd: the second description's read lock on 60-69 is gone");
            flock_is_mine(fd_shared, LOCK_EX, 1, "shared");
            ofd_is_mine(fd_shared, 0, 10, "shared");
            sendline(c1.cmd, "verify");
            await_reply(&c1, "OK", "c1");
            sendline(c2.cmd, "verify");
            await_reply(&c2, "OK", "c2");
            if (released) {
                sendline(c3.cmd, "verify");
                await_reply(&c3, "OK", "c3");
            }
            say("VERIFY %s", fails[0] ? fails + 2 : "OK");
        } else if (!strcmp(line, "release")) {
            if (setlk(fp, F_SETLK, F_UNLCK, 100, 50)) fail("unlock 100-149: %s", strerror(errno));
            await_reply(&c3, "GOT", "c3");
            released = 1;
            say("RELEASED %s", fails[0] ? fails + 2 : "OK");
        } else if (!strcmp(line, "relock")) {
            if (setlk(fp, F_SETLK, F_UNLCK, 0, 10) || setlk(fp, F_SETLK, F_RDLCK, 0, 10)) fail("posix 0-9: %s", strerror(errno));
            if (setlk(fp, F_SETLK, F_UNLCK, 200, 0) || setlk(fp, F_SETLK, F_WRLCK, 200, 0)) fail("posix 200-EOF: %s", strerror(errno));
            if (setlk(fo, F_OFD_SETLK, F_UNLCK, 0, 50) || setlk(fo, F_OFD_SETLK, F_WRLCK, 0, 50)) fail("ofd 0-49: %s", strerror(errno));
            if (flock(fx, LOCK_UN) || flock(fx, LOCK_EX | LOCK_NB)) fail("flock_ex: %s", strerror(errno));
            if (flock(fd_shared, LOCK_UN) || flock(fd_shared, LOCK_EX | LOCK_NB)) fail("shared: %s", strerror(errno));
            sendline(c1.cmd, "relock");
            await_reply(&c1, "OK", "c1");
            say("RELOCK %s", fails[0] ? fails + 2 : "OK");
        } else if (!strcmp(line, "quit")) {
            break;
        }
    }
    struct child *cs[] = {&c1, &c2, &c3};
    for (int i = 0; i < 3; i++) {
        kill(cs[i]->pid, SIGKILL);
        waitpid(cs[i]->pid, NULL, 0);
    }
    say("BYE");
    return 0;
}

/* ------------------------------------------------------------------ one, lease, take, probe */

static void answer(void) {
    char line[256];
    while (readline(0, line, sizeof line)) {
        if (!strcmp(line, "ping")) say("PONG");
        if (!strcmp(line, "quit")) break;
    }
    say("BYE");
}

static int one(const char *kind) {
    int fd = openf("one", O_RDWR);
    int r = !strcmp(kind, "flock") ? flock(fd, LOCK_EX | LOCK_NB)
            : setlk(fd, !strcmp(kind, "ofd") ? F_OFD_SETLK : F_SETLK, F_WRLCK, 10, 10);
    if (r) die(kind);
    say("READY %d", getpid());
    answer();
    return 0;
}

static int lease(void) {
    close(openf("leased", O_RDWR));
    int fd = openf("leased", O_RDONLY);
    if (fcntl(fd, F_SETLEASE, F_RDLCK)) die("F_SETLEASE");
    say("READY %d", getpid());
    answer();
    return 0;
}

/* A lock (flock, ofd, or none) whose description only a shared mapping keeps: the fd is closed. */
static int mapped(const char *kind) {
    int fd = openf("mapped", O_RDWR);
    if (ftruncate(fd, 4096)) die("ftruncate");
    if (!strcmp(kind, "flock") && flock(fd, LOCK_EX | LOCK_NB)) die("flock mapped");
    if (!strcmp(kind, "ofd") && setlk(fd, F_OFD_SETLK, F_WRLCK, 0, 0)) die("F_OFD_SETLK mapped");
    if (mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED) die("mmap");
    close(fd);
    say("READY %d", getpid());
    answer();
    return 0;
}

static int take(char **a) {
    int fd = open(a[1], O_RDWR);
    if (fd < 0) die(a[1]);
    int r;
    if (!strcmp(a[0], "flock")) {
        r = flock(fd, (!strcmp(a[2], "ex") ? LOCK_EX : LOCK_SH) | LOCK_NB);
    } else {
        r = setlk(fd, !strcmp(a[0], "ofd") ? F_OFD_SETLK : F_SETLK, !strcmp(a[2], "w") ? F_WRLCK : F_RDLCK, atoll(a[3]), atoll(a[4]));
    }
    if (r) {
        say("TAKE-FAIL %s", strerror(errno));
        return 1;
    }
    say("TAKEN %d", getpid());
    char line[64];
    while (readline(0, line, sizeof line)) {
    }
    return 0;
}

static void probe(const char *q) {
    char buf[1200];
    snprintf(buf, sizeof buf, "%s", q);
    char *op = strtok(buf, ":"), *file = strtok(NULL, ":"), *type = strtok(NULL, ":");
    int fd = open(file, O_RDWR);
    if (fd < 0) die(file);
    if (!strcmp(op, "flock")) {
        int r = flock(fd, (!strcmp(type, "ex") ? LOCK_EX : LOCK_SH) | LOCK_NB);
        say("%s -> %s", q, r == 0 ? "FREE" : errno == EWOULDBLOCK ? "BUSY" : strerror(errno));
    } else {
        off_t start = atoll(strtok(NULL, ":")), len = atoll(strtok(NULL, ":"));
        struct flock fl = {.l_type = !strcmp(type, "W") ? F_WRLCK : F_RDLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
        if (fcntl(fd, !strcmp(op, "ofdgetlk") ? F_OFD_GETLK : F_GETLK, &fl)) die("F_GETLK");
        if (fl.l_type == F_UNLCK) say("%s -> U", q);
        else say("%s -> %s %lld %lld %d", q, fl.l_type == F_WRLCK ? "W" : "R", (long long) fl.l_start, (long long) fl.l_len, fl.l_pid);
    }
    close(fd);
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "hold")) {
        snprintf(dir, sizeof dir, "%s", argv[2]);
        return hold();
    }
    if (argc >= 4 && !strcmp(argv[1], "one")) {
        snprintf(dir, sizeof dir, "%s", argv[3]);
        return one(argv[2]);
    }
    if (argc >= 3 && !strcmp(argv[1], "lease")) {
        snprintf(dir, sizeof dir, "%s", argv[2]);
        return lease();
    }
    if (argc >= 4 && !strcmp(argv[1], "mapped")) {
        snprintf(dir, sizeof dir, "%s", argv[3]);
        return mapped(argv[2]);
    }
    if (argc >= 5 && !strcmp(argv[1], "take")) return take(argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "probe")) {
        for (int i = 2; i < argc; i++) probe(argv[i]);
        return 0;
    }
    fprintf(stderr, "usage: locks hold DIR | one KIND DIR | lease DIR | mapped KIND DIR | take KIND FILE TYPE START LEN | probe QUERY...\n");
    return 2;
}
