/*
 * cryo test fixture: ITIMER_REAL, ITIMER_VIRTUAL and ITIMER_PROF all armed with an interval, each counting
 * its signal (SIGALRM, SIGVTALRM, SIGPROF). The process burns a little CPU in short bursts so that the CPU
 * timers advance.
 *
 * Protocol (stdin/stdout, one line each):
 *   at start          READY <pid>
 *   hold              blocks SIGALRM and waits until one is pending (the expired ITIMER_REAL then stays
 *                     idle until it is taken), then prints "HELD"
 *   grow              unblocks SIGALRM, waits (at most 20 s) until every count has grown by 3 since the command, then
 *                     prints "GREW <alrm> <vtalrm> <prof>"; or "STUCK <names...> <alrm> <vtalrm> <prof>"
 *   timers            "TIMERS <which> <interval us> <value us>" for each timer, then "END"
 *   quit              exits 0
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t count[3];

static void on_signal(int sig) {
    count[sig == SIGALRM ? 0 : sig == SIGVTALRM ? 1 : 2]++;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* about 2 ms of user CPU, then up to 8 ms waiting for a line on stdin; returns 1 if a line is ready */
static int burn_and_poll(void) {
    double until = now() + 0.002;
    volatile unsigned long x = 0;
    while (now() < until) x++;
    struct pollfd p = {0, POLLIN, 0};
    int r = poll(&p, 1, 8);
    return r > 0;
}

static int next_line(char *buf, size_t n) {
    while (!burn_and_poll()) {
    }
    /* read one line byte by byte, so nothing after it is consumed */
    size_t i = 0;
    while (i + 1 < n) {
        char c;
        ssize_t r = read(0, &c, 1);
        if (r == 0) return 0;
        if (r < 0) {
            if (errno == EINTR) continue;
            return 0;
        }
        if (c == '\n') break;
        buf[i++] = c;
    }
    buf[i] = 0;
    return 1;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGVTALRM, &sa, NULL);
    sigaction(SIGPROF, &sa, NULL);
    struct itimerval it = {{0, 10000}, {0, 10000}};
    if (setitimer(ITIMER_REAL, &it, NULL) || setitimer(ITIMER_VIRTUAL, &it, NULL) || setitimer(ITIMER_PROF, &it, NULL)) {
        printf("FAIL setitimer: %s\n", strerror(errno));
        return 1;
    }
    char line[256];
    dprintf(1, "READY %d\n", getpid());
    while (next_line(line, sizeof line)) {
        if (strcmp(line, "hold") == 0) {
            sigset_t s, p;
            sigemptyset(&s);
            sigaddset(&s, SIGALRM);
            sigprocmask(SIG_BLOCK, &s, NULL);
            do {
                burn_and_poll();
                sigpending(&p);
            } while (!sigismember(&p, SIGALRM));
            write(1, "HELD\n", 5);
        } else if (strcmp(line, "grow") == 0) {
            sigset_t s;
            sigemptyset(&s);
            sigaddset(&s, SIGALRM);
            sigprocmask(SIG_UNBLOCK, &s, NULL);
            int base[3] = {count[0], count[1], count[2]};
            double deadline = now() + 20;
            while (now() < deadline && (count[0] < base[0] + 3 || count[1] < base[1] + 3 || count[2] < base[2] + 3)) burn_and_poll();
            char out[256];
            int c0 = count[0], c1 = count[1], c2 = count[2];
            if (c0 >= base[0] + 3 && c1 >= base[1] + 3 && c2 >= base[2] + 3) {
                snprintf(out, sizeof out, "GREW %d %d %d\n", c0, c1, c2);
            } else {
                snprintf(out, sizeof out, "STUCK%s%s%s %d %d %d\n", c0 < base[0] + 3 ? " REAL" : "",
                         c1 < base[1] + 3 ? " VIRTUAL" : "", c2 < base[2] + 3 ? " PROF" : "", c0, c1, c2);
            }
            write(1, out, strlen(out));
        } else if (strcmp(line, "timers") == 0) {
            char out[512];
            int o = 0;
            for (int w = 0; w < 3; w++) {
                struct itimerval v;
                getitimer(w, &v);
                o += snprintf(out + o, sizeof out - o, "TIMERS %d %ld %ld\n", w, v.it_interval.tv_sec * 1000000L + v.it_interval.tv_usec,
                              v.it_value.tv_sec * 1000000L + v.it_value.tv_usec);
            }
            o += snprintf(out + o, sizeof out - o, "END\n");
            write(1, out, o);
        } else if (strcmp(line, "quit") == 0) {
            return 0;
        }
    }
    return 0;
}
