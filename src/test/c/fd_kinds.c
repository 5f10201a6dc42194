/*
 * cryo test fixture: kinds of fd state that must survive a checkpoint and restart,
 * each checking itself on command.
 *
 *   fd_kinds pipes       one pipe with 12 unread bytes ("hello-unread"), held by
 *                        fds: 3 = read end, 4 = write end, 5 = dup(3),
 *                        6 = /proc/self/fd/3 opened O_RDONLY|O_NONBLOCK,
 *                        7 = /proc/self/fd/4 opened O_WRONLY,
 *                        8 = /proc/self/fd/3 opened O_RDWR (reads and writes)
 *   fd_kinds proc        7 = /proc/self/maps with its first 100 bytes read,
 *                        8 = /proc/meminfo with 10 bytes read,
 *                        9 = /proc/thread-self/stat opened by a second thread
 *                        (a file of /proc/PID/task/TID/)
 *   fd_kinds procparent  7 = /proc/PPID/status: a file of a task outside the tree
 *   fd_kinds clonefiles  a child C cloned with CLONE_FILES, a grandchild G cloned by C
 *                        with CLONE_FILES (one fd table for the three), and a child F
 *                        forked normally (a table of its own)
 *   fd_kinds siblings    two children cloned with CLONE_FILES, after which the parent
 *                        unshares its table: the children share one the parent does not
 *
 * Prints "READY <pid> [<pids of the other processes>]". Commands on stdin:
 *   check   checks the mode's state, prints "OK <mode>" or "FAIL <reason>"
 *           (pipes: consumes the pipe's content; run it once)
 *   quit    (or EOF) kills the other processes, reaps its children, exits 0
 *
 * Build: gcc -O1 -Wall -pthread -o fd_kinds fd_kinds.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define KCMP_FILE 0
#define KCMP_FILES 2

static const char *mode;
static char fail[512];

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond) && !fail[0]) snprintf(fail, sizeof fail, __VA_ARGS__); \
    } while (0)

static long kcmp(pid_t a, pid_t b, int type, long x, long y) {
    return syscall(SYS_kcmp, a, b, type, x, y);
}

static void must(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fd_kinds: %s: %s\n", what, strerror(errno));
        exit(2);
    }
}

static void openAt(const char *path, int flags, int want) {
    int fd = open(path, flags);
    must(fd >= 0, path);
    if (fd != want) {
        must(dup2(fd, want) == want, "dup2");
        close(fd);
    }
}

/* reads exactly n bytes (or fails) */
static ssize_t readAll(int fd, char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return got ? (ssize_t) got : r;
        got += r;
    }
    return got;
}

/* ---------------------------------------------------------------- pipes */

static void setupPipes(void) {
    int p[2];
    must(pipe(p) == 0, "pipe");
    must(dup2(p[0], 3) == 3 && dup2(p[1], 4) == 4, "dup2");
    if (p[0] != 3 && p[0] != 4) close(p[0]);
    if (p[1] != 3 && p[1] != 4) close(p[1]);
    must(write(4, "hello-unread", 12) == 12, "write");
    must(dup2(3, 5) == 5, "dup");
    openAt("/proc/self/fd/3", O_RDONLY | O_NONBLOCK, 6);
    openAt("/proc/self/fd/4", O_WRONLY, 7);
    openAt("/proc/self/fd/3", O_RDWR, 8);
    printf("READY %d\n", getpid());
}

static void roundTrip(int w, int r, const char *msg) {
    char buf[64] = {0};
    size_t n = strlen(msg);
    CHECK(write(w, msg, n) == (ssize_t) n, "write of '%s' through fd %d: %s", msg, w, strerror(errno));
    ssize_t got = readAll(r, buf, n);
    CHECK(got == (ssize_t) n && memcmp(buf, msg, n) == 0, "wrote '%s' through fd %d, read '%.*s' through fd %d", msg, w,
          got > 0 ? (int) got : 0, buf, r);
}

static void checkPipes(void) {
    pid_t me = getpid();
    struct stat st[6];
    for (int fd = 3; fd <= 8; fd++) CHECK(fstat(fd, &st[fd - 3]) == 0, "fstat(%d): %s", fd, strerror(errno));
    for (int fd = 4; fd <= 8; fd++) CHECK(st[fd - 3].st_ino == st[0].st_ino && S_ISFIFO(st[fd - 3].st_mode), "fd %d is not the pipe of fd 3", fd);
    CHECK(kcmp(me, me, KCMP_FILE, 3, 5) == 0, "fd 5 is not the description of fd 3 any more");
    for (int a = 3; a <= 8; a++)
        for (int b = a + 1; b <= 8; b++)
            if (!(a == 3 && b == 5)) CHECK(kcmp(me, me, KCMP_FILE, a, b) != 0, "fds %d and %d became one description", a, b);
    int want[] = {O_RDONLY, O_WRONLY, O_RDONLY, O_RDONLY | O_NONBLOCK, O_WRONLY, O_RDWR};
    for (int fd = 3; fd <= 8; fd++) {
        int fl = fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK);
        CHECK(fl == want[fd - 3], "fd %d has flags 0%o, expected 0%o", fd, fl, want[fd - 3]);
    }
    /* the unread bytes, once: fd 6 does not block, so an extra copy would show */
    char buf[64] = {0};
    ssize_t n = read(6, buf, sizeof buf);
    CHECK(n == 12 && memcmp(buf, "hello-unread", 12) == 0, "the pipe held %zd bytes '%.*s', expected 'hello-unread'", n,
          n > 0 ? (int) n : 0, buf);
    n = read(6, buf, sizeof buf);
    CHECK(n < 0 && errno == EAGAIN, "the pipe had more after its content: %zd", n);
    roundTrip(4, 3, "w4-r3");
    roundTrip(7, 5, "w7-r5");
    roundTrip(8, 6, "w8-r6");
    roundTrip(4, 8, "w4-r8");
}

/* ---------------------------------------------------------------- proc */

static char mapsHead[101];
static pthread_t worker;
static pid_t workerTid;
static volatile int workerReady;

static void *workerMain(void *arg) {
    (void) arg;
    workerTid = gettid();
    openAt("/proc/thread-self/stat", O_RDONLY, 9);
    __atomic_store_n(&workerReady, 1, __ATOMIC_SEQ_CST);
    for (;;) pause();
    return NULL;
}

static void setupProc(void) {
    openAt("/proc/self/maps", O_RDONLY, 7);
    must(readAll(7, mapsHead, 100) == 100, "read maps");
    openAt("/proc/meminfo", O_RDONLY, 8);
    char b[10];
    must(readAll(8, b, 10) == 10, "read meminfo");
    must(pthread_create(&worker, NULL, workerMain, NULL) == 0, "pthread_create");
    while (!__atomic_load_n(&workerReady, __ATOMIC_SEQ_CST)) usleep(1000);
    printf("READY %d %d\n", getpid(), workerTid);
}

/* reads fd to its end into a static buffer (no malloc: the heap would change the maps being compared) */
static char *slurp(int fd, size_t *len, int which) {
    static char bufs[2][1 << 20];
    char *s = bufs[which];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, s + n, sizeof bufs[0] - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += r;
    }
    s[n] = 0;
    *len = n;
    return s;
}

static void checkProc(void) {
    char path[64];
    CHECK(lseek(7, 0, SEEK_CUR) == 100, "fd 7 is at offset %ld, expected 100", (long) lseek(7, 0, SEEK_CUR));
    size_t restLen, freshLen;
    char *rest = slurp(7, &restLen, 0);
    int fresh = open("/proc/self/maps", O_RDONLY);
    char *now = slurp(fresh, &freshLen, 1);
    close(fresh);
    /* the head read before the checkpoint and the rest read now make the maps of now */
    CHECK(freshLen == 100 + restLen && memcmp(now, mapsHead, 100) == 0 && memcmp(now + 100, rest, restLen) == 0,
          "maps read from offset 100 do not continue the head: head '%.40s', rest starts '%.60s'", mapsHead, rest);
    int lines = 0;
    for (char *l = now; *l; lines++) {
        unsigned long a, b;
        char perms[5];
        CHECK(sscanf(l, "%lx-%lx %4s", &a, &b, perms) == 3 && a < b, "maps line %d does not parse: %.60s", lines, l);
        char *nl = strchr(l, '\n');
        if (!nl) break;
        l = nl + 1;
    }
    CHECK(lines > 5, "maps has only %d lines", lines);
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", getpid(), workerTid);
    char link[128] = {0};
    CHECK(readlink("/proc/self/fd/9", link, sizeof link - 1) > 0 && strcmp(link, path) == 0, "fd 9 is '%s', expected %s", link, path);
    char stat[64] = {0}, want[32];
    int wn = snprintf(want, sizeof want, "%d (", workerTid);
    CHECK(pread(9, stat, sizeof stat - 1, 0) > wn && strncmp(stat, want, wn) == 0, "fd 9 reads '%s', not the worker's stat", stat);
    CHECK(readlink("/proc/self/fd/8", link, sizeof link - 1) > 0 && strncmp(link, "/proc/meminfo", 13) == 0, "fd 8 is '%s'", link);
    CHECK(lseek(8, 0, SEEK_CUR) == 10, "fd 8 is at offset %ld, expected 10", (long) lseek(8, 0, SEEK_CUR));
}

/* ---------------------------------------------------------------- clonefiles */

static int cmd[2], reply[2];
static pid_t child, grandchild, forked;
static char stack1[65536] __attribute__((aligned(16))), stack2[65536] __attribute__((aligned(16)));

/* G: on each byte from cmd, opens /dev/null and replies with the fd number */
static int grandchildMain(void *arg) {
    (void) arg;
    for (;;) {
        char c;
        ssize_t r = read(cmd[0], &c, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) _exit(0);
        int fd = open("/dev/null", O_RDONLY);
        if (write(reply[1], &fd, sizeof fd) != sizeof fd) _exit(3);
    }
}

static int childMain(void *arg) {
    (void) arg;
    pid_t g = clone(grandchildMain, stack2 + sizeof stack2, CLONE_FILES | SIGCHLD, NULL);
    if (g < 0) _exit(4);
    if (write(reply[1], &g, sizeof g) != sizeof g) _exit(3);
    for (;;) {
        int st;
        if (waitpid(g, &st, 0) == g) _exit(0);
        if (errno != EINTR) _exit(5);
    }
}

static void setupCloneFiles(void) {
    must(pipe(cmd) == 0 && pipe(reply) == 0, "pipe");
    forked = fork();
    must(forked >= 0, "fork");
    if (forked == 0) {
        for (;;) pause();
    }
    child = clone(childMain, stack1 + sizeof stack1, CLONE_FILES | SIGCHLD, NULL);
    must(child > 0, "clone");
    must(readAll(reply[0], (char *) &grandchild, sizeof grandchild) == sizeof grandchild, "read grandchild pid");
    printf("READY %d %d %d %d\n", getpid(), child, grandchild, forked);
}

static int pauseMain(void *arg) {
    (void) arg;
    for (;;) pause();
    return 0;
}

static void setupSiblings(void) {
    child = clone(pauseMain, stack1 + sizeof stack1, CLONE_FILES | SIGCHLD, NULL);
    must(child > 0, "clone");
    forked = clone(pauseMain, stack2 + sizeof stack2, CLONE_FILES | SIGCHLD, NULL);
    must(forked > 0, "clone");
    grandchild = child;   /* nothing else to kill */
    must(unshare(CLONE_FILES) == 0, "unshare");
    printf("READY %d %d %d\n", getpid(), child, forked);
}

static void checkCloneFiles(void) {
    pid_t me = getpid();
    CHECK(kcmp(me, child, KCMP_FILES, 0, 0) == 0, "the child %d does not share the fd table", child);
    CHECK(kcmp(me, grandchild, KCMP_FILES, 0, 0) == 0, "the grandchild %d does not share the fd table", grandchild);
    long k = kcmp(me, forked, KCMP_FILES, 0, 0);
    CHECK(k > 0, "the forked child %d shares the fd table (kcmp %ld)", forked, k);
    CHECK(write(cmd[1], "o", 1) == 1, "write cmd");
    int fd = -1;
    CHECK(readAll(reply[0], (char *) &fd, sizeof fd) == sizeof fd, "no reply from the grandchild");
    struct stat a, b;
    CHECK(fd > 2 && fstat(fd, &a) == 0 && stat("/dev/null", &b) == 0 && a.st_rdev == b.st_rdev,
          "fd %d the grandchild opened is not /dev/null here", fd);
    CHECK(kcmp(me, grandchild, KCMP_FILE, fd, fd) == 0, "fd %d is not one description in both", fd);
    if (fd > 2) close(fd);
    /* the other way: an fd opened here is the child's too */
    int mine = open("/dev/zero", O_RDONLY);
    CHECK(kcmp(me, child, KCMP_FILE, mine, mine) == 0, "fd %d opened by the parent is not in the child", mine);
    close(mine);
}

static void quit(void) {
    if (child) {
        kill(grandchild, SIGKILL);
        kill(child, SIGKILL);
        kill(forked, SIGKILL);
        waitpid(child, NULL, 0);
        waitpid(forked, NULL, 0);
    }
    printf("BYE\n");
    exit(0);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: fd_kinds pipes|proc|procparent|clonefiles\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    mode = argv[1];
    if (!strcmp(mode, "pipes")) setupPipes();
    else if (!strcmp(mode, "proc")) setupProc();
    else if (!strcmp(mode, "procparent")) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/status", getppid());
        openAt(path, O_RDONLY, 7);
        printf("READY %d\n", getpid());
    } else if (!strcmp(mode, "clonefiles")) setupCloneFiles();
    else if (!strcmp(mode, "siblings")) setupSiblings();
    else {
        fprintf(stderr, "fd_kinds: unknown mode %s\n", mode);
        return 2;
    }
    char line[128];
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "check", 5)) {
            fail[0] = 0;
            if (!strcmp(mode, "pipes")) checkPipes();
            else if (!strcmp(mode, "proc")) checkProc();
            else if (!strcmp(mode, "clonefiles")) checkCloneFiles();
            if (fail[0]) printf("FAIL %s\n", fail);
            else printf("OK %s\n", mode);
        } else if (!strncmp(line, "quit", 4)) {
            quit();
        }
    }
    quit();
}
