/*
 * cryo test fixture: epoll instances and eventfds, checked by the process itself after restart.
 *
 * Usage: epoll            the whole set below
 *        epoll closed     the root forks a child (the tree to checkpoint) whose epoll watches a pipe that only
 *                         the root, outside that tree, still holds; prints "READY <child pid>"
 *        epoll drained    an EPOLLONESHOT item on a pipe fires, then the pipe is read empty: the item is
 *                         disabled and its file ready for nothing; prints "READY <pid>"
 *
 * The whole set: eventfds A (count 5, EFD_NONBLOCK), B (count 3, EFD_SEMAPHORE, blocking), C (count
 * 0x123456789abc, above 32 bits). Epoll E1 watches: pipe p4 with EPOLLONESHOT (fired before the others are
 * added: disabled), pipe p1 (data, EPOLLIN), pipe p2 (empty, EPOLLIN|EPOLLWAKEUP), eventfd A, pipe p3 (data,
 * EPOLLET, its edge not yet taken), pipe p5 added as fd X then moved to another fd (dup, close X, /dev/null
 * opened at X), pipe p6 (empty, EPOLLEXCLUSIVE). E2 watches E1 (nested). E3 is shared with a child (fork):
 * it watches pipe p7 (data) of the parent and pipe c of the child, which the child added after the fork.
 *
 * Protocol (stdin/stdout): READY <pid>, then
 *   check   each check prints "OK <what>" or "FAIL <what>: ...", then "OK" or "FAILED" (once per process)
 *   quit    the child is told to exit and reaped; exits 0
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, what, ...) do { if (cond) printf("OK %s\n", what); else { failures++; printf("FAIL %s: ", what); printf(__VA_ARGS__); printf("\n"); } } while (0)

static void die(const char *what) {
    printf("FAIL setup %s: %s\n", what, strerror(errno));
    exit(1);
}

static void pipe_with(int p[2], const char *data) {
    if (pipe(p)) die("pipe");
    if (data && write(p[1], data, strlen(data)) != (ssize_t) strlen(data)) die("write");
}

static void add(int ep, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) die("epoll_ctl");
}

/* the "tfd events data" lines of an epoll's fdinfo, sorted, in buf */
static void items(int ep, char *buf, size_t n) {
    char path[64], text[8192], *lines[64];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", ep);
    FILE *f = fopen(path, "r");
    if (!f) die("fdinfo");
    int k = 0;
    while (k < 64 && fgets(text, sizeof text, f)) {
        int tfd;
        unsigned events;
        unsigned long long data;
        if (sscanf(text, "tfd: %d events: %x data: %llx", &tfd, &events, &data) != 3) continue;
        lines[k] = malloc(80);
        snprintf(lines[k], 80, "%d:%x:%llx ", tfd, events, data);
        k++;
    }
    fclose(f);
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++)
            if (strcmp(lines[i], lines[j]) > 0) { char *t = lines[i]; lines[i] = lines[j]; lines[j] = t; }
    buf[0] = 0;
    for (int i = 0; i < k; i++) { strncat(buf, lines[i], n - strlen(buf) - 1); free(lines[i]); }
}

/* the data of the events ready now (timeout 0), sorted, as text */
static void ready(int ep, char *buf, size_t n) {
    struct epoll_event ev[16];
    int k = epoll_wait(ep, ev, 16, 0);
    if (k < 0) { snprintf(buf, n, "error %s", strerror(errno)); return; }
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++)
            if (ev[i].data.u64 > ev[j].data.u64) { struct epoll_event t = ev[i]; ev[i] = ev[j]; ev[j] = t; }
    buf[0] = 0;
    for (int i = 0; i < k; i++) snprintf(buf + strlen(buf), n - strlen(buf), "%llx ", (unsigned long long) ev[i].data.u64);
}

static int next_line(char *buf, size_t n) {
    size_t i = 0;
    while (i + 1 < n) {
        char c;
        ssize_t r = read(0, &c, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        if (c == '\n') break;
        buf[i++] = c;
    }
    buf[i] = 0;
    return 1;
}

static int closed_mode(void) {
    int p[2], sync[2];
    pipe_with(p, "x");
    if (pipe(sync)) die("pipe");
    pid_t child = fork();
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int ep = epoll_create1(0);
        add(ep, p[0], EPOLLIN, 7);
        close(p[0]);
        close(p[1]);
        close(sync[0]);
        close(sync[1]);   /* the root reads EOF: the child is set up */
        for (;;) pause();
    }
    close(sync[1]);
    char c;
    while (read(sync[0], &c, 1) > 0) {
    }
    printf("READY %d\n", child);
    char line[64];
    while (next_line(line, sizeof line) && strcmp(line, "quit") != 0) {
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "closed") == 0) return closed_mode();
    if (argc > 1 && strcmp(argv[1], "drained") == 0) {
        int p[2], ep = epoll_create1(0);
        struct epoll_event got;
        char c;
        pipe_with(p, "d");
        add(ep, p[0], EPOLLIN | EPOLLONESHOT, 0xd);
        if (epoll_wait(ep, &got, 1, 0) != 1 || read(p[0], &c, 1) != 1) die("drained oneshot");
        printf("READY %d\n", getpid());
        char line[64];
        while (next_line(line, sizeof line) && strcmp(line, "quit") != 0) {
        }
        return 0;
    }

    int efa = eventfd(5, EFD_NONBLOCK), efb = eventfd(3, EFD_SEMAPHORE), efc = eventfd(0, 0);
    if (efa < 0 || efb < 0 || efc < 0) die("eventfd");
    uint64_t big = 0x123456789abcULL;
    if (write(efc, &big, 8) != 8) die("write eventfd");

    int p1[2], p2[2], p3[2], p4[2], p5[2], p6[2], p7[2];
    pipe_with(p1, "1");
    pipe_with(p2, NULL);
    pipe_with(p3, "3");
    pipe_with(p4, "4");
    pipe_with(p5, "5");
    pipe_with(p6, NULL);
    pipe_with(p7, "7");

    int e1 = epoll_create1(EPOLL_CLOEXEC);
    if (e1 < 0) die("epoll_create1");
    add(e1, p4[0], EPOLLIN | EPOLLONESHOT, 0x4444);
    struct epoll_event ev;
    if (epoll_wait(e1, &ev, 1, 0) != 1 || ev.data.u64 != 0x4444) die("oneshot did not fire");
    add(e1, p1[0], EPOLLIN, 0x1111000000000001ULL);
    add(e1, p2[0], EPOLLIN | EPOLLWAKEUP, 0x2222);
    add(e1, efa, EPOLLIN, 0xa);
    add(e1, p3[0], EPOLLIN | EPOLLET, 0x3333);
    int x = p5[0];
    add(e1, x, EPOLLIN, 0x5555);
    int moved = dup(x);
    close(x);
    if (open("/dev/null", O_RDONLY) != x) die("/dev/null at the moved fd's number");
    add(e1, p6[0], EPOLLIN | EPOLLEXCLUSIVE, 0x6666);

    int e2 = epoll_create1(0);
    add(e2, e1, EPOLLIN, 0xe1);

    int e3 = epoll_create1(0);
    add(e3, p7[0], EPOLLIN, 0x7777);
    int ctl[2], sync[2];
    if (pipe(ctl) || pipe(sync)) die("pipe");
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int c[2];
        pipe_with(c, "c");
        add(e3, c[0], EPOLLIN, 0xc0c0);
        close(sync[0]);
        close(sync[1]);
        char cmd = 0;
        while (read(ctl[0], &cmd, 1) < 0 && errno == EINTR) {
        }
        if (cmd != 'c') _exit(0);
        char got[256];
        ready(e3, got, sizeof got);
        _exit(strcmp(got, "7777 c0c0 ") == 0 ? 0 : 1);
    }
    close(sync[1]);
    char c;
    while (read(sync[0], &c, 1) > 0) {
    }
    close(sync[0]);
    close(ctl[0]);

    char want1[2048], want2[256], want3[256];
    items(e1, want1, sizeof want1);
    items(e2, want2, sizeof want2);
    items(e3, want3, sizeof want3);
    printf("READY %d\n", getpid());

    char line[64];
    while (next_line(line, sizeof line)) {
        if (strcmp(line, "quit") == 0) break;
        if (strcmp(line, "check") != 0) continue;
        char got[2048];
        items(e1, got, sizeof got);
        CHECK(strcmp(got, want1) == 0, "e1-items", "%s, was %s", got, want1);
        items(e2, got, sizeof got);
        CHECK(strcmp(got, want2) == 0, "e2-items", "%s, was %s", got, want2);
        items(e3, got, sizeof got);
        CHECK(strcmp(got, want3) == 0, "e3-items", "%s, was %s", got, want3);
        char moved_tfd[32];
        snprintf(moved_tfd, sizeof moved_tfd, "%d:19:5555 ", x);
        CHECK(strstr(want1, moved_tfd) != NULL, "moved-target-number", "no item %s in %s", moved_tfd, want1);
        ready(e2, got, sizeof got);
        CHECK(strcmp(got, "e1 ") == 0, "nested", "e2 reports %s", got);
        ready(e1, got, sizeof got);
        CHECK(strcmp(got, "a 3333 5555 1111000000000001 ") == 0, "ready-after-restart", "e1 reports %s", got);
        ready(e1, got, sizeof got);
        CHECK(strcmp(got, "a 5555 1111000000000001 ") == 0, "edge-triggered-once", "e1 reports %s the second time", got);
        struct epoll_event mod = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 0x4444};
        int r = epoll_ctl(e1, EPOLL_CTL_MOD, p4[0], &mod);
        ready(e1, got, sizeof got);
        CHECK(r == 0 && strcmp(got, "a 4444 5555 1111000000000001 ") == 0, "oneshot-rearmed", "MOD %d, e1 reports %s", r, got);
        struct epoll_event again = {.events = EPOLLIN, .data.u64 = 1};
        r = epoll_ctl(e1, EPOLL_CTL_ADD, p2[0], &again);
        CHECK(r < 0 && errno == EEXIST, "same-key", "a second ADD of p2 gives %d (%s)", r, strerror(errno));
        r = epoll_ctl(e1, EPOLL_CTL_DEL, moved, NULL);
        CHECK(r < 0 && errno == ENOENT, "moved-key", "DEL of the moved fd %d gives %d (%s)", moved, r, strerror(errno));

        uint64_t v = 0;
        ssize_t n = read(efa, &v, 8);
        int again_r = read(efa, &v, 8) < 0 && errno == EAGAIN;
        CHECK(n == 8 && v == 5 && again_r, "eventfd-count-nonblock", "read gives %zd, value %llu", n, (unsigned long long) v);
        int fl = fcntl(efb, F_GETFL);
        uint64_t s1 = 0, s2 = 0, s3 = 0;
        int ok = !(fl & O_NONBLOCK) && read(efb, &s1, 8) == 8 && read(efb, &s2, 8) == 8 && read(efb, &s3, 8) == 8;
        struct pollfd pb = {efb, POLLIN, 0};
        CHECK(ok && s1 == 1 && s2 == 1 && s3 == 1 && poll(&pb, 1, 0) == 0, "eventfd-semaphore", "flags %o, reads %llu %llu %llu",
              fl, (unsigned long long) s1, (unsigned long long) s2, (unsigned long long) s3);
        v = 0;
        n = read(efc, &v, 8);
        CHECK(n == 8 && v == big, "eventfd-64-bit-count", "%llx", (unsigned long long) v);
        ready(e3, got, sizeof got);
        CHECK(strcmp(got, "7777 c0c0 ") == 0, "shared-parent", "e3 reports %s", got);
        int status = -1;
        if (write(ctl[1], "c", 1) != 1 || waitpid(child, &status, 0) != child) status = -1;
        child = 0;
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "shared-child", "status %d", status);
        printf(failures ? "FAILED\n" : "OK\n");
    }
    if (child > 0) {
        if (write(ctl[1], "q", 1) != 1) kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    return 0;
}
