/*
 * cryo test fixture: two inotify instances that check themselves.
 *
 *   inotify DIR
 *     Makes directories DIR/a, DIR/b, DIR/c and files DIR/f1, DIR/f2, DIR/n0 .. DIR/n11.
 *     Instance A (fd 3, IN_NONBLOCK, also at fd 4 by dup) watches, in this order:
 *       wd 1  DIR/a   IN_CREATE|IN_DELETE
 *       wd 2  DIR/f1  IN_MODIFY                          (removed again)
 *       wd 3  DIR/b   IN_CREATE|IN_MOVED_TO|IN_ONESHOT
 *       wd 4  DIR/f2  IN_ATTRIB                          (removed again)
 *       wd 5  DIR/c   IN_ALL_EVENTS|IN_EXCL_UNLINK
 *     so its wds are 1, 3 and 5. Instance B (fd 5, blocking) watches DIR/n0 .. DIR/n11 with IN_ATTRIB and
 *     removes the first ten again: its wds are 11 and 12 (fdinfo shows them in hex). Fd 6 holds DIR/c/held
 *     open (a restart reopens it: no IN_OPEN may reach A). The events of all this are read.
 *
 * Prints "READY <pid>". Commands on stdin:
 *   check    checks the flags of both instances, their watches as fdinfo shows them (wd and mask), and that
 *            events come with the right wd and name: mkdir DIR/a/new-N and DIR/c/d-N (N: the time in ns), a write to DIR/f1
 *            (no watch any more) give, read through fd 4, exactly (1, IN_CREATE|IN_ISDIR, new-N) and
 *            (5, IN_CREATE|IN_ISDIR, d-N); chmod DIR/n10 gives (11, IN_ATTRIB) on B. Prints "OK" or
 *            "FAIL <reason>". Repeatable.
 *   oneshot  mkdir DIR/b/x: (3, IN_CREATE|IN_ISDIR, x) then (3, IN_IGNORED), and wd 3 is gone. "OK"/"FAIL".
 *   quit     prints "BYE" and exits 0
 *
 * Build: gcc -O1 -Wall -o inotify inotify.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define A 3
#define A_DUP 4
#define B 5
#define HELD 6

static char dir[2048];
static char failure[512];
static long round_no;
static int oneshot_gone;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
    if (failure[0]) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(failure, sizeof failure, fmt, ap);
    va_end(ap);
    return -1;
}

static void path(char *out, const char *name) {
    snprintf(out, 4096, "%s/%s", dir, name);
}

static int watch(int fd, const char *name, unsigned mask, int want) {
    char p[4096];
    path(p, name);
    int wd = inotify_add_watch(fd, p, mask);
    if (wd != want) {
        printf("SETUP-FAIL inotify_add_watch(%s) = %d (%s), wanted %d\n", p, wd, strerror(errno), want);
        exit(1);
    }
    return wd;
}

static void setup_fail(const char *what) {
    printf("SETUP-FAIL %s: %s\n", what, strerror(errno));
    exit(1);
}

static void drain(int fd) {
    char buf[4096];
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    while (read(fd, buf, sizeof buf) > 0) {
    }
    fcntl(fd, F_SETFL, fl);
}

static void setup(void) {
    const char *dirs[] = {"a", "b", "c"};
    char p[4096];
    for (int i = 0; i < 3; i++) {
        path(p, dirs[i]);
        if (mkdir(p, 0755) < 0) setup_fail(p);
    }
    for (int i = 0; i < 14; i++) {
        char n[16], p[4096];
        if (i < 12) snprintf(n, sizeof n, "n%d", i);
        else snprintf(n, sizeof n, "f%d", i - 11);
        path(p, n);
        int fd = open(p, O_CREAT | O_WRONLY, 0644);
        if (fd < 0) setup_fail(p);
        close(fd);
    }
    int a = inotify_init1(IN_NONBLOCK), b = inotify_init1(0);
    if (a != A || b != A + 1) setup_fail("inotify_init1 at fds 3 and 4");
    if (dup2(b, B) != B || dup2(a, A_DUP) != A_DUP) setup_fail("dup2");
    watch(A, "a", IN_CREATE | IN_DELETE, 1);
    watch(A, "f1", IN_MODIFY, 2);
    watch(A, "b", IN_CREATE | IN_MOVED_TO | IN_ONESHOT, 3);
    watch(A, "f2", IN_ATTRIB, 4);
    watch(A, "c", IN_ALL_EVENTS | IN_EXCL_UNLINK, 5);
    if (inotify_rm_watch(A, 2) < 0 || inotify_rm_watch(A, 4) < 0) setup_fail("inotify_rm_watch(A)");
    for (int i = 0; i < 12; i++) {
        char n[16];
        snprintf(n, sizeof n, "n%d", i);
        watch(B, n, IN_ATTRIB, i + 1);
    }
    for (int i = 1; i <= 10; i++) {
        if (inotify_rm_watch(B, i) < 0) setup_fail("inotify_rm_watch(B)");
    }
    /* a file of the watched DIR/c held open: restart reopens it, which must not reach A as IN_OPEN */
    path(p, "c/held");
    int held = open(p, O_CREAT | O_RDONLY, 0644);
    if (held < 0 || dup2(held, HELD) != HELD) setup_fail(p);
    if (held != HELD) close(held);
    drain(A);
    drain(B);
}

/* The "wd:X ... mask:Y" pairs of fdinfo of fd, as "wd/mask" words sorted by wd, into out. */
static void watches(int fd, char *out, size_t size) {
    char p[64], line[1024];
    snprintf(p, sizeof p, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(p, "r");
    unsigned wds[64], masks[64];
    int n = 0;
    out[0] = 0;
    if (!f) return;
    while (fgets(line, sizeof line, f) && n < 64) {
        unsigned wd, mask;
        char *w = strstr(line, "inotify wd:"), *m = strstr(line, " mask:");
        if (!w || !m) continue;
        if (sscanf(w, "inotify wd:%x", &wd) == 1 && sscanf(m, " mask:%x", &mask) == 1) {
            int i = n++;
            while (i > 0 && wds[i - 1] > wd) {
                wds[i] = wds[i - 1];
                masks[i] = masks[i - 1];
                i--;
            }
            wds[i] = wd;
            masks[i] = mask;
        }
    }
    fclose(f);
    for (int i = 0; i < n; i++) {
        size_t l = strlen(out);
        snprintf(out + l, size - l, "%s%u/%x", i ? " " : "", wds[i], masks[i]);
    }
}

/* Reads the events queued on fd (non-blocking) into "wd/mask/name" words. */
static void events(int fd, char *out, size_t size) {
    char buf[8192] __attribute__((aligned(8)));
    out[0] = 0;
    ssize_t n = read(fd, buf, sizeof buf);
    for (char *p = buf; n > 0 && p < buf + n;) {
        struct inotify_event *e = (struct inotify_event *)p;
        size_t l = strlen(out);
        snprintf(out + l, size - l, "%s%d/%x/%s", l ? " " : "", e->wd, e->mask, e->len ? e->name : "");
        p += sizeof *e + e->len;
    }
}

static int expect(const char *what, const char *got, const char *want) {
    if (strcmp(got, want) != 0) return fail("%s: got [%s], wanted [%s]", what, got, want);
    return 0;
}

static void check(void) {
    char got[4096], want[4096], p[4096];
    /* names no earlier run in DIR used (a restarted image's counter starts again) */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    round_no = ts.tv_sec * 1000000000L + ts.tv_nsec;
    if ((fcntl(A, F_GETFL) & O_NONBLOCK) == 0) fail("instance A lost O_NONBLOCK");
    if ((fcntl(B, F_GETFL) & O_NONBLOCK) != 0) fail("instance B became O_NONBLOCK");
    if ((fcntl(A, F_GETFD) & FD_CLOEXEC) != 0) fail("instance A became close-on-exec");
    if (fcntl(HELD, F_GETFD) < 0) fail("fd %d (DIR/c/held) is not open", HELD);
    watches(A, got, sizeof got);
    if (oneshot_gone) snprintf(want, sizeof want, "1/%x 5/%x", IN_CREATE | IN_DELETE, IN_ALL_EVENTS | IN_EXCL_UNLINK);
    else snprintf(want, sizeof want, "1/%x 3/%x 5/%x", IN_CREATE | IN_DELETE, IN_CREATE | IN_MOVED_TO | IN_ONESHOT, IN_ALL_EVENTS | IN_EXCL_UNLINK);
    expect("watches of A", got, want);
    watches(A_DUP, got, sizeof got);
    expect("watches of A through fd 4", got, want);
    watches(B, got, sizeof got);
    snprintf(want, sizeof want, "11/%x 12/%x", IN_ATTRIB, IN_ATTRIB);
    expect("watches of B", got, want);
    events(A_DUP, got, sizeof got);
    expect("events queued on A before the check", got, "");

    snprintf(want, sizeof want, "a/new-%ld", round_no);
    path(p, want);
    if (mkdir(p, 0755) < 0) fail("mkdir %s: %s", p, strerror(errno));
    path(p, "f1");
    int fd = open(p, O_WRONLY | O_APPEND);
    if (fd < 0 || write(fd, "x", 1) != 1) fail("write %s: %s", p, strerror(errno));
    if (fd >= 0) close(fd);
    snprintf(want, sizeof want, "c/d-%ld", round_no);
    path(p, want);
    if (mkdir(p, 0755) < 0) fail("mkdir %s: %s", p, strerror(errno));
    events(A_DUP, got, sizeof got);
    snprintf(want, sizeof want, "1/%x/new-%ld 5/%x/d-%ld", IN_CREATE | IN_ISDIR, round_no, IN_CREATE | IN_ISDIR, round_no);
    expect("events on A", got, want);
    events(A, got, sizeof got);
    expect("events left on A after reading them through fd 4", got, "");

    path(p, "n10");
    if (chmod(p, round_no % 2 ? 0600 : 0644) < 0) fail("chmod %s: %s", p, strerror(errno));
    struct pollfd pfd = {.fd = B, .events = POLLIN};
    if (poll(&pfd, 1, 10000) != 1) {
        fail("no event on B within 10 s");
    } else {
        events(B, got, sizeof got);
        snprintf(want, sizeof want, "11/%x/", IN_ATTRIB);
        expect("events on B", got, want);
    }
}

static void oneshot(void) {
    char got[4096], want[4096], p[4096];
    path(p, "b/x");
    if (mkdir(p, 0755) < 0) fail("mkdir %s: %s", p, strerror(errno));
    events(A, got, sizeof got);
    snprintf(want, sizeof want, "3/%x/x 3/%x/", IN_CREATE | IN_ISDIR, IN_IGNORED);
    expect("events of the one-shot watch", got, want);
    oneshot_gone = 1;
    watches(A, got, sizeof got);
    snprintf(want, sizeof want, "1/%x 5/%x", IN_CREATE | IN_DELETE, IN_ALL_EVENTS | IN_EXCL_UNLINK);
    expect("watches of A after the one-shot fired", got, want);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 2) {
        fprintf(stderr, "usage: inotify DIR\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    setup();
    printf("READY %d\n", getpid());
    char cmd[256];
    while (fgets(cmd, sizeof cmd, stdin)) {
        failure[0] = 0;
        if (strncmp(cmd, "check", 5) == 0) check();
        else if (strncmp(cmd, "oneshot", 7) == 0) oneshot();
        else if (strncmp(cmd, "quit", 4) == 0) {
            printf("BYE\n");
            return 0;
        } else continue;
        if (failure[0]) printf("FAIL %s\n", failure);
        else printf("OK\n");
    }
    return 0;
}
