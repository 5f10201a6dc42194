/*
 * cryo test fixture: timerfds of every sort, checked by the fixture itself after restart.
 *   A  CLOCK_MONOTONIC, relative, periodic 5 ms, TFD_NONBLOCK, never read before the check: its ticks pile up
 *   B  CLOCK_REALTIME, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, one-shot, an hour from the start
 *   C  CLOCK_BOOTTIME, relative, one-shot, an hour from the start
 *   D  CLOCK_MONOTONIC, disarmed, blocking; set with a 7 ms interval and no value (it keeps the interval)
 *   E  CLOCK_MONOTONIC, TFD_TIMER_ABSTIME, periodic 1 h, first expiry an hour from the start
 * and an epoll instance watching A (EPOLLIN, data 0xA) and C (EPOLLIN, data 0xC).
 *
 * Protocol (stdin/stdout, one line each):
 *   at start           "READY <pid>" once A has expired at least once
 *   check TICKS LEFT   TICKS: A's unread ticks in the image, LEFT: C's time left in the image (ns). Prints a
 *                      FAIL line per problem, then OK:
 *                      the epoll reports A ready (its unread ticks), and not C;
 *                      A: read gives >= TICKS (>= 1) ticks, fires again after; O_NONBLOCK kept
 *                      B, E: now + time left is the expiry they were set to (within 50 ms), B's settime
 *                      flags in fdinfo are 03
 *                      C: 0 < time left <= LEFT; D: disarmed with its interval, blocking
 *   quit               exits 0
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000LL
#define HOUR (3600 * NS)

static int fails;
static int a, b, c, d, e, ep;
static long long b_at, e_at;

#define FAIL(...) do { printf("FAIL " __VA_ARGS__); printf("\n"); fails++; } while (0)

static long long now(clockid_t clk) {
    struct timespec t;
    clock_gettime(clk, &t);
    return t.tv_sec * NS + t.tv_nsec;
}

static struct timespec ts(long long ns) {
    struct timespec t = {ns / NS, ns % NS};
    return t;
}

static long long ns(struct timespec t) {
    return t.tv_sec * NS + t.tv_nsec;
}

static int make(clockid_t clk, int flags, int settime, long long value, long long interval) {
    int fd = timerfd_create(clk, flags);
    if (fd < 0) {
        printf("FAILED timerfd_create(%d): %s\n", clk, strerror(errno));
        exit(1);
    }
    struct itimerspec its = {ts(interval), ts(value)};
    if ((value || interval || settime) && timerfd_settime(fd, settime, &its, NULL)) {
        printf("FAILED timerfd_settime(%d): %s\n", clk, strerror(errno));
        exit(1);
    }
    return fd;
}

static long long left(int fd, long long *interval) {
    struct itimerspec its;
    if (timerfd_gettime(fd, &its)) return -1;
    if (interval) *interval = ns(its.it_interval);
    return ns(its.it_value);
}

static void check_expiry(const char *name, int fd, clockid_t clk, long long at) {
    long long l = left(fd, NULL), n = now(clk);
    long long diff = n + l - at;
    if (l <= 0 || diff > 50000000LL || diff < -50000000LL) FAIL("%s: now + time left is %lld ns away from its expiry", name, diff);
}

static int fdinfo_int(int fd, const char *key, int base) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "r");
    int v = -1;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, strlen(key)) == 0) v = (int) strtol(line + strlen(key), NULL, base);
    }
    if (f) fclose(f);
    return v;
}

static void check(long long ticks, long long c_left) {
    struct epoll_event ev[4];
    int n = epoll_wait(ep, ev, 4, 0);
    if (n != 1 || ev[0].data.u64 != 0xA) FAIL("epoll: %d ready, first data 0x%llx, not A alone", n, n > 0 ? (unsigned long long) ev[0].data.u64 : 0ULL);
    uint64_t got = 0;
    if (read(a, &got, 8) != 8) FAIL("A: read: %s", strerror(errno));
    else if (got < (uint64_t) ticks || got < 1) FAIL("A: read %llu ticks, the image saved %lld", (unsigned long long) got, ticks);
    struct pollfd p = {a, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) FAIL("A: does not fire again after the read");
    if (!(fcntl(a, F_GETFL) & O_NONBLOCK)) FAIL("A: O_NONBLOCK lost");
    long long iv;
    if (left(a, &iv) < 0 || iv != 5000000) FAIL("A: interval %lld, not 5 ms", iv);

    check_expiry("B", b, CLOCK_REALTIME, b_at);
    int flags = fdinfo_int(b, "settime flags:", 8);
    if (flags != (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)) FAIL("B: settime flags 0%o, not 03", flags);
    check_expiry("E", e, CLOCK_MONOTONIC, e_at);
    if (left(e, &iv) < 0 || iv != HOUR) FAIL("E: interval %lld, not an hour", iv);
    if (fdinfo_int(e, "settime flags:", 8) != TFD_TIMER_ABSTIME) FAIL("E: not absolute");

    long long l = left(c, NULL);
    if (l <= 0 || l > c_left) FAIL("C: %lld ns left, the image saved %lld", l, c_left);
    if (fdinfo_int(c, "clockid:", 10) != CLOCK_BOOTTIME) FAIL("C: clock %d, not CLOCK_BOOTTIME", fdinfo_int(c, "clockid:", 10));

    if (left(d, &iv) != 0 || iv != 7000000) FAIL("D: armed, or interval %lld, not 7 ms", iv);
    if (fcntl(d, F_GETFL) & O_NONBLOCK) FAIL("D: O_NONBLOCK set");
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    a = make(CLOCK_MONOTONIC, TFD_NONBLOCK, 0, 5000000, 5000000);
    b_at = now(CLOCK_REALTIME) + HOUR;
    b = make(CLOCK_REALTIME, 0, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, b_at, 0);
    c = make(CLOCK_BOOTTIME, 0, 0, HOUR, 0);
    d = make(CLOCK_MONOTONIC, 0, 0, 0, 7000000);
    e_at = now(CLOCK_MONOTONIC) + HOUR;
    e = make(CLOCK_MONOTONIC, 0, TFD_TIMER_ABSTIME, e_at, HOUR);
    ep = epoll_create1(0);
    struct epoll_event ea = {EPOLLIN, {.u64 = 0xA}}, ec = {EPOLLIN, {.u64 = 0xC}};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, a, &ea) || epoll_ctl(ep, EPOLL_CTL_ADD, c, &ec)) {
        printf("FAILED epoll_ctl: %s\n", strerror(errno));
        return 1;
    }
    struct pollfd p = {a, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) {
        printf("FAILED A never fired\n");
        return 1;
    }
    printf("READY %d\n", getpid());
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        long long x, y;
        if (sscanf(line, "check %lld %lld", &x, &y) == 2) {
            fails = 0;
            check(x, y);
            printf("OK\n");
        } else if (strncmp(line, "quit", 4) == 0) {
            return 0;
        }
    }
    return 0;
}
