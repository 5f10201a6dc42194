/*
 * cryo test fixture: signalfds with signals pending for them, checked by the fixture itself after restart.
 *   S  signalfd for SIGUSR1 and SIGRTMIN+2, SFD_NONBLOCK; pending for the process: SIGUSR1 (kill) and
 *      SIGRTMIN+2 twice (sigqueue, values 77 and 78)
 *   T  signalfd for SIGUSR2, blocking; pending for the main thread only: SIGUSR2 (tgkill)
 * All three signals are blocked, so they stay pending until read through the signalfds. With the argument
 * "epoll", an epoll instance watches S too (EPOLLIN, data EP_DATA), before the signals are sent. With "moved",
 * S is then moved to another fd number (the item keeps its old one, which no fd has: cryo refuses that).
 * With "fork", a child forked once the signals are pending holds the epoll and S too, and sleeps.
 * With "thread", a second thread has its own epoll watching W, a signalfd for SIGRTMIN+3 (data W_DATA), with
 * SIGRTMIN+3 pending for that thread alone (tgkill): the epoll reports W ready only when polled for that thread.
 *
 * Protocol (stdin/stdout, one line each):
 *   at start   "READY <pid>" once the signals are pending
 *   check      with "epoll": the item's mask and data in the epoll's fdinfo, and epoll_wait (no wait) reports S
 *              ready with its data; then reads S until EAGAIN and T once: SIGUSR1, SIGRTMIN+2 (77), SIGRTMIN+2
 *              (78) from S, SIGUSR2 from T; with "epoll", epoll_wait (no wait) reports nothing then; checks both
 *              masks in fdinfo and S's O_NONBLOCK; a FAIL line per problem, then OK
 *   tcheck     ("thread") the thread's epoll_wait (no wait) reports W ready with its data and it reads
 *              SIGRTMIN+3 from W; a FAIL line per problem, then OK
 *   wait       ("epoll") epoll_wait without a timeout until S is ready (the test sends SIGUSR1), reads SIGUSR1
 *              from S; a FAIL line per problem, then OK
 *   quit       exits 0
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fails;
#define FAIL(...) do { printf("FAIL " __VA_ARGS__); printf("\n"); fails++; } while (0)

#define EP_DATA 0xfeedbeef00000005ULL

/* The events and data of the item for fd tfd in the fdinfo of epoll ep; 0 events if there is none. */
static void fdinfo_item(int ep, int tfd, unsigned *events, unsigned long long *data) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", ep);
    FILE *f = fopen(path, "r");
    *events = 0;
    *data = 0;
    int fd;
    unsigned ev;
    unsigned long long d;
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "tfd: %d events: %x data: %llx", &fd, &ev, &d) == 3 && fd == tfd) {
            *events = ev;
            *data = d;
        }
    }
    if (f) fclose(f);
}

/* epoll_wait on ep for one event, timeout ms; FAIL unless it reports `want` items (S with EPOLLIN when 1). */
static void expect_ready(int ep, int timeout, int want, const char *when) {
    struct epoll_event ev;
    int n = epoll_wait(ep, &ev, 1, timeout);
    if (n != want) FAIL("%s: epoll_wait gave %d (%s), not %d", when, n, n < 0 ? strerror(errno) : "events", want);
    else if (n == 1 && (ev.data.u64 != EP_DATA || !(ev.events & EPOLLIN))) FAIL("%s: epoll_wait reported events %x data %llx", when, ev.events, (unsigned long long) ev.data.u64);
}

#define W_DATA 0x77ULL

/* The "thread" mode: the thread waits for a byte on cmd[0], checks its epoll, answers a byte on res[1]. */
static int cmd[2], res[2], w_fd, w_ep;

static void *thread_main(void *arg) {
    (void) arg;
    pid_t tid = gettid();
    if (write(res[1], &tid, sizeof tid) != sizeof tid) return NULL;
    char c;
    while (read(cmd[0], &c, 1) == 1) {
        struct epoll_event ev;
        struct signalfd_siginfo si;
        char r = 'k';
        int n = epoll_wait(w_ep, &ev, 1, 0);
        if (n != 1 || ev.data.u64 != W_DATA) r = 'e';
        else if (read(w_fd, &si, sizeof si) != sizeof si || (int) si.ssi_signo != SIGRTMIN + 3) r = 'r';
        if (write(res[1], &r, 1) != 1) return NULL;
    }
    return NULL;
}

static unsigned long long fdinfo_mask(int fd) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "r");
    unsigned long long v = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "sigmask:", 8) == 0) v = strtoull(line + 8, NULL, 16);
    }
    if (f) fclose(f);
    return v;
}

static void expect(int fd, int signo, int value, const char *name) {
    struct signalfd_siginfo si;
    ssize_t n = read(fd, &si, sizeof si);
    if (n != sizeof si) FAIL("%s: read gave %zd (%s), not %s", name, n, n < 0 ? strerror(errno) : "short", name);
    else if ((int) si.ssi_signo != signo || (value && si.ssi_int != value)) FAIL("%s: read signal %u value %d", name, si.ssi_signo, si.ssi_int);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int rt = SIGRTMIN + 2;
    sigset_t all, s_mask, t_mask;
    sigemptyset(&all);
    sigaddset(&all, SIGUSR1);
    sigaddset(&all, SIGUSR2);
    sigaddset(&all, rt);
    sigprocmask(SIG_BLOCK, &all, NULL);
    sigemptyset(&s_mask);
    sigaddset(&s_mask, SIGUSR1);
    sigaddset(&s_mask, rt);
    sigemptyset(&t_mask);
    sigaddset(&t_mask, SIGUSR2);
    int s = signalfd(-1, &s_mask, SFD_NONBLOCK);
    int t = signalfd(-1, &t_mask, 0);
    if (s < 0 || t < 0) {
        printf("FAILED signalfd: %s\n", strerror(errno));
        return 1;
    }
    unsigned long long s_bits = fdinfo_mask(s), t_bits = fdinfo_mask(t);
    int ep = epoll_create1(0);
    struct epoll_event es = {EPOLLIN, {.u64 = EP_DATA}};
    const char *mode = argc > 1 ? argv[1] : "";
    int with_epoll = strcmp(mode, "epoll") == 0 || strcmp(mode, "moved") == 0 || strcmp(mode, "fork") == 0;
    if (with_epoll && epoll_ctl(ep, EPOLL_CTL_ADD, s, &es)) {
        printf("FAILED epoll_ctl: %s\n", strerror(errno));
        return 1;
    }
    int s_item = s;   /* the number the item is keyed by */
    if (strcmp(mode, "moved") == 0) {
        int moved = fcntl(s, F_DUPFD, 20);
        close(s);
        s = moved;
    }
    kill(getpid(), SIGUSR1);
    union sigval v = {.sival_int = 77};
    sigqueue(getpid(), rt, v);
    v.sival_int = 78;
    sigqueue(getpid(), rt, v);
    syscall(SYS_tgkill, getpid(), gettid(), SIGUSR2);
    if (strcmp(mode, "thread") == 0) {
        sigset_t w_mask;
        sigemptyset(&w_mask);
        sigaddset(&w_mask, SIGRTMIN + 3);
        sigprocmask(SIG_BLOCK, &w_mask, NULL);
        w_fd = signalfd(-1, &w_mask, SFD_NONBLOCK);
        w_ep = epoll_create1(0);
        struct epoll_event ew = {EPOLLIN, {.u64 = W_DATA}};
        pthread_t th;
        if (pipe(cmd) || pipe(res) || w_fd < 0 || w_ep < 0 || epoll_ctl(w_ep, EPOLL_CTL_ADD, w_fd, &ew) || pthread_create(&th, NULL, thread_main, NULL)) {
            printf("FAILED thread setup: %s\n", strerror(errno));
            return 1;
        }
        pid_t tid = 0;
        if (read(res[0], &tid, sizeof tid) != sizeof tid) tid = 0;
        if (!tid || syscall(SYS_tgkill, getpid(), tid, SIGRTMIN + 3)) {
            printf("FAILED tgkill of the thread\n");
            return 1;
        }
    }
    if (strcmp(mode, "fork") == 0) {
        pid_t parent = getpid();
        if (fork() == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(1);
            for (;;) pause();
        }
    }
    printf("READY %d\n", getpid());
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "check", 5) == 0) {
            fails = 0;
            if (fdinfo_mask(s) != s_bits) FAIL("S: mask %llx, was %llx", fdinfo_mask(s), s_bits);
            if (fdinfo_mask(t) != t_bits) FAIL("T: mask %llx, was %llx", fdinfo_mask(t), t_bits);
            if (!(fcntl(s, F_GETFL) & O_NONBLOCK)) FAIL("S: O_NONBLOCK lost");
            if (fcntl(t, F_GETFL) & O_NONBLOCK) FAIL("T: O_NONBLOCK set");
            if (with_epoll) {
                unsigned ev;
                unsigned long long d;
                fdinfo_item(ep, s_item, &ev, &d);
                if (ev != (EPOLLIN | EPOLLERR | EPOLLHUP) || d != EP_DATA) FAIL("epoll item of S: events %x data %llx", ev, d);
                expect_ready(ep, 0, 1, "pending signals");
            }
            expect(s, SIGUSR1, 0, "SIGUSR1");
            expect(s, rt, 77, "SIGRTMIN+2 (77)");
            expect(s, rt, 78, "SIGRTMIN+2 (78)");
            struct signalfd_siginfo si;
            if (read(s, &si, sizeof si) != -1 || errno != EAGAIN) FAIL("S: more than the three signals, or no EAGAIN");
            expect(t, SIGUSR2, 0, "SIGUSR2");
            if (with_epoll) expect_ready(ep, 0, 0, "S read dry");
            printf("OK\n");
        } else if (strncmp(line, "tcheck", 6) == 0) {
            fails = 0;
            char c = 'c', r = 0;
            if (write(cmd[1], &c, 1) != 1 || read(res[0], &r, 1) != 1) FAIL("thread: no answer");
            else if (r == 'e') FAIL("thread: its epoll does not report W ready with its data");
            else if (r == 'r') FAIL("thread: W does not give SIGRTMIN+3");
            printf("OK\n");
        } else if (strncmp(line, "wait", 4) == 0) {
            fails = 0;
            expect_ready(ep, -1, 1, "a signal sent");
            expect(s, SIGUSR1, 0, "SIGUSR1 sent");
            printf("OK\n");
        } else if (strncmp(line, "quit", 4) == 0) {
            return 0;
        }
    }
    return 0;
}
