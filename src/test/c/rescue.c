/*
 * A target for "cryo checkpoint killed at any moment" (KilledCheckpointTest, bench/kill-checkpoint.sh): checks
 * itself and says so. Threads:
 *   main      a loop in assembly with ymm8-ymm15, rbx and r12-r15 holding known values, checked on every turn
 *             (no syscall: a freeze lands on any instruction of it), then a short usleep; "BAD regs" and exit 3
 *             if one changed;
 *   reporter  nanosleep(10 ms) restarted by hand on EINTR (its remaining time), then prints
 *             "TICK <turns of main> <sleeps> <SIGUSR1 handled> <SIGRTMIN handled>" every 5 sleeps;
 *   reader    read() of a pipe nobody writes, SIGUSR1/SIGRTMIN/SIGTERM blocked: it must never return.
 * SIGUSR1 and SIGRTMIN have a handler run on the thread's sigaltstack (main and reporter have one); a handler
 * not on it prints "BAD altstack". SIGUSR2 is blocked everywhere: one sent stays pending.
 * Prints "READY <pid>" once every thread runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile long turns, usr1, rtmin;
static volatile int started;
static unsigned char pattern[8 * 32] __attribute__((aligned(32)));

static void handler(int sig) {
    stack_t ss;
    if (sigaltstack(NULL, &ss) != 0 || !(ss.ss_flags & SS_ONSTACK)) {
        static const char m[] = "BAD altstack\n";
        write(1, m, sizeof m - 1);
        _exit(3);
    }
    if (sig == SIGUSR1) __atomic_add_fetch(&usr1, 1, __ATOMIC_SEQ_CST);
    else __atomic_add_fetch(&rtmin, 1, __ATOMIC_SEQ_CST);
}

static void altstack(void) {
    stack_t ss = {.ss_sp = malloc(1 << 16), .ss_size = 1 << 16, .ss_flags = 0};
    if (!ss.ss_sp || sigaltstack(&ss, NULL) != 0) { perror("sigaltstack"); exit(2); }
}

static void *reporter(void *arg) {
    (void)arg;
    altstack();
    __atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
    for (long sleeps = 1;; sleeps++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        while (nanosleep(&ts, &ts) == -1) {
            if (errno != EINTR) { perror("nanosleep"); exit(2); }
        }
        if (sleeps % 5 == 0) {
            printf("TICK %ld %ld %ld %ld\n", turns, sleeps, usr1, rtmin);
            fflush(stdout);
        }
    }
    return NULL;
}

static void *reader(void *arg) {
    int fd = *(int *)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigaddset(&s, SIGRTMIN);
    sigaddset(&s, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    __atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
    char c;
    ssize_t n = read(fd, &c, 1);
    printf("BAD read returned %zd (%s)\n", n, n < 0 ? strerror(errno) : "data");
    fflush(stdout);
    exit(3);
}

/* Runs the checked loop `count` turns; 0 if every register kept its value, else 1. */
static int check_loop(long count) {
    int bad;
    __asm__ volatile(
        "vmovdqa 0(%[p]), %%ymm8\n\t"
        "vmovdqa 32(%[p]), %%ymm9\n\t"
        "vmovdqa 64(%[p]), %%ymm10\n\t"
        "vmovdqa 96(%[p]), %%ymm11\n\t"
        "vmovdqa 128(%[p]), %%ymm12\n\t"
        "vmovdqa 160(%[p]), %%ymm13\n\t"
        "vmovdqa 192(%[p]), %%ymm14\n\t"
        "vmovdqa 224(%[p]), %%ymm15\n\t"
        "movabs $0x1badcafe0000abcd, %%rbx\n\t"
        "movabs $0x2badcafe0000abcd, %%r12\n\t"
        "movabs $0x3badcafe0000abcd, %%r13\n\t"
        "movabs $0x4badcafe0000abcd, %%r14\n\t"
        "movabs $0x5badcafe0000abcd, %%r15\n\t"
        "1:\n\t"
#define CHECK(n, off) \
        "vxorps " #off "(%[p]), %%ymm" #n ", %%ymm0\n\t" \
        "vptest %%ymm0, %%ymm0\n\t" \
        "jnz 2f\n\t"
        CHECK(8, 0) CHECK(9, 32) CHECK(10, 64) CHECK(11, 96) CHECK(12, 128) CHECK(13, 160) CHECK(14, 192) CHECK(15, 224)
        "movabs $0x1badcafe0000abcd, %%rax\n\tcmp %%rax, %%rbx\n\tjne 2f\n\t"
        "movabs $0x2badcafe0000abcd, %%rax\n\tcmp %%rax, %%r12\n\tjne 2f\n\t"
        "movabs $0x3badcafe0000abcd, %%rax\n\tcmp %%rax, %%r13\n\tjne 2f\n\t"
        "movabs $0x4badcafe0000abcd, %%rax\n\tcmp %%rax, %%r14\n\tjne 2f\n\t"
        "movabs $0x5badcafe0000abcd, %%rax\n\tcmp %%rax, %%r15\n\tjne 2f\n\t"
        "lock incq %[t]\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        "xor %[bad], %[bad]\n\t"
        "jmp 3f\n\t"
        "2: mov $1, %[bad]\n\t"
        "3: vzeroupper\n\t"
        : [bad] "=r"(bad), [t] "+m"(turns), [n] "+r"(count)
        : [p] "r"(pattern)
        : "rax", "rbx", "r12", "r13", "r14", "r15", "xmm0", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
          "xmm14", "xmm15", "memory", "cc");
    return bad;
}

int main(void) {
    for (int i = 0; i < (int)sizeof pattern; i++) pattern[i] = (unsigned char)(i * 37 + 11);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    sigprocmask(SIG_BLOCK, &s, NULL);
    struct sigaction sa = {.sa_handler = handler, .sa_flags = SA_ONSTACK | SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGRTMIN, &sa, NULL);
    altstack();
    int p[2];
    if (pipe(p) != 0) { perror("pipe"); return 2; }
    pthread_t t;
    pthread_create(&t, NULL, reporter, NULL);
    pthread_create(&t, NULL, reader, &p[0]);
    while (started < 2) usleep(1000);
    printf("READY %d\n", getpid());
    fflush(stdout);
    for (;;) {
        if (check_loop(20000)) {
            printf("BAD regs\n");
            fflush(stdout);
            exit(3);
        }
        usleep(2000);   /* mostly asleep: the tests run beside other work on few CPUs */
    }
}
