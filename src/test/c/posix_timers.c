/*
 * cryo test fixture: POSIX timers (timer_create), checked by the fixture itself after restart.
 *   T1  CLOCK_MONOTONIC, SIGEV_SIGNAL SIGRTMIN+1 with value 0x1234, every 10 ms (taken by the main thread)
 *   T2  CLOCK_REALTIME, SIGEV_THREAD_ID to the worker thread, SIGRTMIN+3 with value 0x5678, every 10 ms
 *   T3  CLOCK_BOOTTIME, SIGEV_NONE, one-shot in an hour
 *   T4  CLOCK_MONOTONIC, SIGEV_SIGNAL SIGUSR1, disarmed
 *   T5  the process's CPU clock, SIGEV_NONE, one-shot after an hour of CPU time
 * Timers are created and deleted around them so that their ids are not 0..4.
 * Each handler checks its siginfo (si_code SI_TIMER, si_timerid, si_value, the thread it runs in).
 *
 * Protocol (stdin/stdout, one line each):
 *   at start        "IDS <T1> <T2> <T3> <T4> <T5>", then "READY <pid>" once T1 and T2 fired
 *   hold            T1's and T2's signals blocked until each is pending, then "HELD"
 *   check L3 L5     (L3, L5: T3's and T5's time left in the image, ns) after hold: exactly one signal of T1
 *                   and one of T2 are pending (taken with sigtimedwait); unblocks both signals; every id works
 *                   with timer_gettime, the intervals, 0 < T3 <= L3, 0 < T5 <= L5, T4 disarmed; T1 and T2
 *                   each fire at least 3 more times (within 20 s); no handler saw a wrong siginfo; a new
 *                   timer gets a new id. A FAIL line per problem, then OK
 *   quit            exits 0
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000LL
#define T1SIG (SIGRTMIN + 1)
#define T2SIG (SIGRTMIN + 3)

static timer_t t1, t2, t3, t4, t5;
static volatile pid_t worker_tid;
static volatile int c1, c2, bad1, bad2, bad4;
static volatile int worker_hold, worker_held, worker_release, worker_drained = -1, held;
static int fails;
#define FAIL(...) do { printf("FAIL " __VA_ARGS__); printf("\n"); fails++; } while (0)

static void on_t1(int sig, siginfo_t *si, void *uc) {
    if (si->si_code == SI_TIMER && si->si_value.sival_int == 0x1234 && si->si_timerid == (int) (long) t1 && si->si_overrun >= 0) c1++;
    else bad1++;
}

static void on_t2(int sig, siginfo_t *si, void *uc) {
    if (si->si_code == SI_TIMER && si->si_value.sival_int == 0x5678 && si->si_timerid == (int) (long) t2 && gettid() == worker_tid) c2++;
    else bad2++;
}

static void on_usr1(int sig, siginfo_t *si, void *uc) {
    bad4++;
}

static int pending(int sig) {
    sigset_t p;
    sigpending(&p);
    return sigismember(&p, sig);
}

static void block(int sig, int how) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    pthread_sigmask(how, &s, NULL);
}

/*
 * Takes every signal sig pending for the calling thread (blocked) without waiting, checking each is timer t's;
 * returns how many. A timer whose signal is pending does not queue another one until it is taken.
 */
static int drain(int sig, timer_t t, volatile int *bad) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    struct timespec zero = {0, 0};
    siginfo_t si;
    int n = 0;
    while (sigtimedwait(&s, &si, &zero) == sig) {
        if (si.si_code != SI_TIMER || si.si_timerid != (int) (long) t) (*bad)++;
        n++;
    }
    return n;
}

static void *worker(void *arg) {
    block(T1SIG, SIG_BLOCK);   /* T1's signal goes to the main thread */
    worker_tid = gettid();
    while (1) {
        if (worker_hold && !worker_held) {
            block(T2SIG, SIG_BLOCK);
            while (!pending(T2SIG)) usleep(1000);
            worker_held = 1;
        }
        if (worker_release) {
            if (worker_held) {
                usleep(50000);   /* five periods: none of them may queue a second signal */
                worker_drained = drain(T2SIG, t2, &bad2);
            }
            worker_release = 0;
            worker_hold = worker_held = 0;
            block(T2SIG, SIG_UNBLOCK);
        }
        usleep(1000);
    }
    return NULL;
}

static timer_t make(clockid_t clk, int notify, int sig, int value, pid_t tid) {
    struct sigevent se;
    memset(&se, 0, sizeof se);
    se.sigev_notify = notify;
    se.sigev_signo = sig;
    se.sigev_value.sival_int = value;
    se._sigev_un._tid = tid;
    timer_t t;
    if (timer_create(clk, &se, &t)) {
        printf("FAILED timer_create(%d): %s\n", clk, strerror(errno));
        exit(1);
    }
    return t;
}

static void arm(timer_t t, long long value, long long interval) {
    struct itimerspec its = {{interval / NS, interval % NS}, {value / NS, value % NS}};
    if (timer_settime(t, 0, &its, NULL)) {
        printf("FAILED timer_settime: %s\n", strerror(errno));
        exit(1);
    }
}

static long long left(timer_t t, long long *interval, const char *name) {
    struct itimerspec its;
    if (timer_gettime(t, &its)) {
        FAIL("%s: timer_gettime(%d): %s", name, (int) (long) t, strerror(errno));
        return -1;
    }
    if (interval) *interval = its.it_interval.tv_sec * NS + its.it_interval.tv_nsec;
    return its.it_value.tv_sec * NS + its.it_value.tv_nsec;
}

static void check(long long l3, long long l5) {
    int s1 = c1, s2 = c2;
    if (held) {
        usleep(50000);   /* five periods: none of them may queue a second signal */
        int n = drain(T1SIG, t1, &bad1);
        if (n != 1) FAIL("T1: %d signals pending after restart, not the one pending at checkpoint", n);
    }
    block(T1SIG, SIG_UNBLOCK);
    worker_release = 1;
    while (worker_release) usleep(1000);
    if (held && worker_drained != 1) FAIL("T2: %d signals pending for the worker after restart, not the one pending at checkpoint", worker_drained);
    long long iv;
    left(t1, &iv, "T1");
    if (iv != 10000000) FAIL("T1: interval %lld", iv);
    left(t2, &iv, "T2");
    if (iv != 10000000) FAIL("T2: interval %lld", iv);
    long long l = left(t3, &iv, "T3");
    if (l <= 0 || l > l3 || iv) FAIL("T3: %lld ns left (image: %lld), interval %lld", l, l3, iv);
    l = left(t4, &iv, "T4");
    if (l || iv) FAIL("T4: armed (%lld, %lld)", l, iv);
    l = left(t5, &iv, "T5");
    if (l <= 0 || l > l5 || iv) FAIL("T5: %lld ns left (image: %lld), interval %lld", l, l5, iv);
    if (timer_getoverrun(t1) < 0) FAIL("T1: timer_getoverrun: %s", strerror(errno));
    for (int i = 0; i < 20000 && (c1 < s1 + 3 || c2 < s2 + 3); i++) usleep(1000);
    if (c1 < s1 + 3) FAIL("T1 fired %d times after restart", c1 - s1);
    if (c2 < s2 + 3) FAIL("T2 fired %d times after restart", c2 - s2);
    if (bad1 || bad2 || bad4) FAIL("wrong signals: T1 %d, T2 %d, SIGUSR1 %d", bad1, bad2, bad4);
    timer_t n = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0, 0);
    if (n == t1 || n == t2 || n == t3 || n == t4 || n == t5) FAIL("a new timer got id %d, already in use", (int) (long) n);
    timer_delete(n);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sa.sa_sigaction = on_t1;
    sigaction(T1SIG, &sa, NULL);
    sa.sa_sigaction = on_t2;
    sigaction(T2SIG, &sa, NULL);
    sa.sa_sigaction = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t w;
    pthread_create(&w, NULL, worker, NULL);
    while (!worker_tid) usleep(1000);

    timer_t gap[3];
    for (int i = 0; i < 3; i++) gap[i] = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0, 0);
    t1 = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, T1SIG, 0x1234, 0);
    timer_t mid = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0, 0);
    t2 = make(CLOCK_REALTIME, SIGEV_THREAD_ID, T2SIG, 0x5678, worker_tid);
    t3 = make(CLOCK_BOOTTIME, SIGEV_NONE, SIGUSR1, 0, 0);
    t4 = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR1, 0, 0);
    t5 = make(CLOCK_PROCESS_CPUTIME_ID, SIGEV_NONE, 0, 0, 0);
    for (int i = 0; i < 3; i++) timer_delete(gap[i]);
    timer_delete(mid);
    arm(t1, 10000000, 10000000);
    arm(t2, 10000000, 10000000);
    arm(t3, 3600 * NS, 0);
    arm(t5, 3600 * NS, 0);
    while (c1 < 1 || c2 < 1) usleep(1000);
    printf("IDS %d %d %d %d %d\n", (int) (long) t1, (int) (long) t2, (int) (long) t3, (int) (long) t4, (int) (long) t5);
    printf("READY %d\n", getpid());
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        long long x, y;
        if (strncmp(line, "hold", 4) == 0) {
            block(T1SIG, SIG_BLOCK);
            while (!pending(T1SIG)) usleep(1000);
            worker_hold = 1;
            while (!worker_held) usleep(1000);
            held = 1;
            printf("HELD\n");
        } else if (sscanf(line, "check %lld %lld", &x, &y) == 2) {
            fails = 0;
            check(x, y);
            printf("OK\n");
        } else if (strncmp(line, "quit", 4) == 0) {
            return 0;
        }
    }
    return 0;
}
