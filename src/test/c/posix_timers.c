/*
 * cryo test fixture: POSIX timers (timer_create), checked by the fixture itself after restart.
 *   T1  CLOCK_MONOTONIC, SIGEV_SIGNAL SIGRTMIN+1 with value 0x1234, every 10 ms (taken by the main thread)
 *   T2  CLOCK_REALTIME, SIGEV_THREAD_ID to the worker thread, SIGRTMIN+3 with value 0x5678, every 10 ms
 *   T3  CLOCK_BOOTTIME, SIGEV_NONE, one-shot in an hour
 *   T4  CLOCK_MONOTONIC, SIGEV_SIGNAL SIGUSR1, disarmed
 *   T5  the process's CPU clock, SIGEV_NONE, one-shot after an hour of CPU time
 *   T6  CLOCK_REALTIME, SIGEV_SIGNAL SIGRTMIN+4, every 1000 s, first expiry set 5.5 periods in the past: its
 *       one signal comes with 5 overruns (timer_getoverrun 5), the next expiry is 500 s away
 *   T7  the worker thread's CPU clock (pthread_getcpuclockid: a clock id naming its tid), SIGEV_NONE, one-shot
 *       after an hour of its CPU time
 * Timers are created and deleted around them so that their ids are not 0..4.
 * Each handler checks its siginfo (si_code SI_TIMER, si_timerid, si_value, the thread it runs in).
 *
 * Protocol (stdin/stdout, one line each):
 *   at start        "IDS <T1> ... <T7>", then "READY <pid>" once T1, T2 and T6 fired
 *   hold            T1's and T2's signals blocked until each is pending, then "HELD"
 *   check L3 L5 L6  (T3's, T5's and T6's time left in the image, ns) after hold: exactly one signal of T1
 *                   and one of T2 are pending (taken with sigtimedwait); unblocks both signals; every id works
 *                   with timer_gettime, the intervals, 0 < T3 <= L3, 0 < T5 <= L5, T4 disarmed; T1 and T2
 *                   each fire at least 3 more times (within 20 s); no handler saw a wrong siginfo; a new
 *                   timer gets a new id; timer_getoverrun(T6) is 5 and 0 < T6 <= L6; 0 < T7 <= 1 h. A FAIL line per problem, then OK
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
#define T6SIG (SIGRTMIN + 4)

static timer_t t1, t2, t3, t4, t5, t6, t7;
static volatile pid_t worker_tid;
static volatile int c1, c2, c6, bad1, bad2, bad4, bad6;
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

static void on_t6(int sig, siginfo_t *si, void *uc) {
    if (si->si_code == SI_TIMER && si->si_value.sival_int == 0x66 && si->si_timerid == (int) (long) t6 && si->si_overrun == 5) c6++;
    else bad6++;
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

static void check(long long l3, long long l5, long long l6) {
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
    if (timer_getoverrun(t6) != 5) FAIL("T6: timer_getoverrun %d, not 5", timer_getoverrun(t6));
    l = left(t6, &iv, "T6");
    if (l <= 0 || l > l6 || iv != 1000 * NS) FAIL("T6: %lld ns left (image: %lld), interval %lld", l, l6, iv);
    for (int i = 0; i < 20000 && (c1 < s1 + 3 || c2 < s2 + 3); i++) usleep(1000);
    if (c1 < s1 + 3) FAIL("T1 fired %d times after restart", c1 - s1);
    if (c2 < s2 + 3) FAIL("T2 fired %d times after restart", c2 - s2);
    l = left(t7, &iv, "T7");
    if (l <= 0 || l > 3600 * NS || iv) FAIL("T7: %lld ns left, interval %lld", l, iv);
    if (bad1 || bad2 || bad4 || bad6 || c6 != 1) FAIL("wrong signals: T1 %d, T2 %d, SIGUSR1 %d, T6 %d (%d taken)", bad1, bad2, bad4, bad6, c6);
    timer_t n = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0, 0);
    if (n == t1 || n == t2 || n == t3 || n == t4 || n == t5 || n == t6 || n == t7) FAIL("a new timer got id %d, already in use", (int) (long) n);
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
    sa.sa_sigaction = on_t6;
    sigaction(T6SIG, &sa, NULL);
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
    t6 = make(CLOCK_REALTIME, SIGEV_SIGNAL, T6SIG, 0x66, 0);
    clockid_t wclock;
    if (pthread_getcpuclockid(w, &wclock)) {
        printf("FAILED pthread_getcpuclockid\n");
        return 1;
    }
    t7 = make(wclock, SIGEV_NONE, 0, 0, 0);
    arm(t7, 3600 * NS, 0);
    for (int i = 0; i < 3; i++) timer_delete(gap[i]);
    timer_delete(mid);
    arm(t1, 10000000, 10000000);
    arm(t2, 10000000, 10000000);
    arm(t3, 3600 * NS, 0);
    arm(t5, 3600 * NS, 0);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct itimerspec past = {{1000, 0}, {now.tv_sec - 5500, now.tv_nsec}};
    if (timer_settime(t6, TIMER_ABSTIME, &past, NULL)) {
        printf("FAILED timer_settime(T6): %s\n", strerror(errno));
        return 1;
    }
    while (c1 < 1 || c2 < 1 || c6 + bad6 < 1) usleep(1000);
    if (timer_getoverrun(t6) != 5 || bad6) {
        printf("FAILED T6: overrun %d, bad signals %d\n", timer_getoverrun(t6), bad6);
        return 1;
    }
    printf("IDS %d %d %d %d %d %d %d\n", (int) (long) t1, (int) (long) t2, (int) (long) t3, (int) (long) t4, (int) (long) t5,
           (int) (long) t6, (int) (long) t7);
    printf("READY %d\n", getpid());
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        long long x, y, z;
        if (strncmp(line, "hold", 4) == 0) {
            block(T1SIG, SIG_BLOCK);
            while (!pending(T1SIG)) usleep(1000);
            worker_hold = 1;
            while (!worker_held) usleep(1000);
            held = 1;
            printf("HELD\n");
        } else if (sscanf(line, "check %lld %lld %lld", &x, &y, &z) == 3) {
            fails = 0;
            check(x, y, z);
            printf("OK\n");
        } else if (strncmp(line, "quit", 4) == 0) {
            return 0;
        }
    }
    return 0;
}
