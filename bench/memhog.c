/*
 * memhog: benchmark target for bench/run.sh.
 *
 *   memhog SIZE_MIB RESULT_FILE [SEED]
 *   memhog --touch SIZE_MIB     (baseline: cost of faulting in fresh memory)
 *   memhog --answer SIZE_MIB RESULT_FILE [SEED]
 *                               (bench/lazy.sh: as the first form, but SIGUSR2 writes
 *                               "ANSWER" into RESULT_FILE.answer instead of flipping a byte)
 *
 * Maps SIZE_MIB MiB of private anonymous memory, fills every 8-byte word with
 * an xorshift64 sequence (so every page is touched and the data does not
 * compress), computes a checksum of it, prints "READY sum=<hex>" on stdout and
 * then sits in pause() forever.
 *
 * SIGUSR1: re-checks the memory (regenerates the sequence and compares it word
 *          by word, and recomputes the checksum) and writes one line to
 *          RESULT_FILE (written to RESULT_FILE.tmp, then renamed, so a reader
 *          never sees half a line):
 *            OK sum=<hex> words=<n> ms=<verify time>
 *            BAD sum=<hex> expected=<hex> badwords=<n> first_bad_offset=<n> ...
 * SIGUSR2: flips one byte in the middle of the memory (to test the checker).
 *
 * The work is done inside the signal handlers, with async-signal-safe calls
 * only (open, write, rename, clock_gettime), so the main loop is a plain
 * pause() with no race between a flag test and the pause. The process keeps
 * no file open besides 0-2: after a restart it needs nothing but RESULT_FILE's
 * directory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint64_t *mem;          /* the memory under test */
static uint64_t nwords;        /* its size in 8-byte words */
static uint64_t seed;          /* xorshift seed (kept in .data/.bss: restored too) */
static uint64_t start_sum;     /* checksum computed right after filling */
static char result_path[4096];
static char result_tmp[4100];
static char answer_path[4110];

static inline uint64_t xorshift64(uint64_t x) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

static void fill(void) {
    uint64_t x = seed;
    for (uint64_t i = 0; i < nwords; i++) {
        x = xorshift64(x);
        mem[i] = x;
    }
}

/* Position-dependent checksum: 4 independent lanes so it is not latency bound. */
static uint64_t checksum(void) {
    const uint64_t k = 0x9E3779B97F4A7C15ull;
    uint64_t h0 = 1, h1 = 2, h2 = 3, h3 = 4;
    uint64_t i = 0;
    for (; i + 4 <= nwords; i += 4) {
        h0 = (h0 ^ mem[i]) * k;
        h1 = (h1 ^ mem[i + 1]) * k;
        h2 = (h2 ^ mem[i + 2]) * k;
        h3 = (h3 ^ mem[i + 3]) * k;
    }
    for (; i < nwords; i++)
        h0 = (h0 ^ mem[i]) * k;
    uint64_t h = h0;
    h = (h ^ (h1 + 0x1111)) * k;
    h = (h ^ (h2 + 0x2222)) * k;
    h = (h ^ (h3 + 0x3333)) * k;
    return h ^ (h >> 29);
}

/* ---- async-signal-safe formatting ---- */
static size_t put_str(char *buf, size_t pos, const char *s) {
    while (*s)
        buf[pos++] = *s++;
    return pos;
}
static size_t put_hex(char *buf, size_t pos, uint64_t v) {
    static const char digits[] = "0123456789abcdef";
    for (int sh = 60; sh >= 0; sh -= 4)
        buf[pos++] = digits[(v >> sh) & 15];
    return pos;
}
static size_t put_dec(char *buf, size_t pos, uint64_t v) {
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        buf[pos++] = tmp[--n];
    return pos;
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_usr1(int sig) {
    (void)sig;
    int saved_errno = errno;
    uint64_t t0 = now_ms();
    uint64_t x = seed, bad = 0, first_bad = 0;
    for (uint64_t i = 0; i < nwords; i++) {
        x = xorshift64(x);
        if (mem[i] != x) {
            if (!bad)
                first_bad = i * 8;
            bad++;
        }
    }
    uint64_t sum = checksum();
    uint64_t t1 = now_ms();

    char line[512];
    size_t n = 0;
    if (bad == 0 && sum == start_sum) {
        n = put_str(line, n, "OK sum=");
        n = put_hex(line, n, sum);
    } else {
        n = put_str(line, n, "BAD sum=");
        n = put_hex(line, n, sum);
        n = put_str(line, n, " expected=");
        n = put_hex(line, n, start_sum);
        n = put_str(line, n, " badwords=");
        n = put_dec(line, n, bad);
        n = put_str(line, n, " first_bad_offset=");
        n = put_dec(line, n, first_bad);
    }
    n = put_str(line, n, " words=");
    n = put_dec(line, n, nwords);
    n = put_str(line, n, " pid=");
    n = put_dec(line, n, (uint64_t)getpid());
    n = put_str(line, n, " ms=");
    n = put_dec(line, n, t1 - t0);
    line[n++] = '\n';

    int fd = open(result_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        const char *p = line;
        size_t left = n;
        while (left > 0) {
            ssize_t w = write(fd, p, left);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            p += w;
            left -= (size_t)w;
        }
        close(fd);
        rename(result_tmp, result_path);
    }
    errno = saved_errno;
}

static void on_usr2(int sig) {
    (void)sig;
    ((volatile unsigned char *)mem)[nwords * 4 + 3] ^= 0x5a;
}

/* --answer: the "first answer" of a restored process, touching little of its memory. */
static void on_usr2_answer(int sig) {
    (void)sig;
    int saved_errno = errno;
    int fd = open(answer_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        ssize_t w = write(fd, "ANSWER\n", 7);
        (void)w;
        close(fd);
    }
    errno = saved_errno;
}

/* Baseline for restore: how long faulting in SIZE_MIB of fresh anonymous memory
 * takes on this machine, by first touch (memset) and by MAP_POPULATE. */
static int touch_baseline(const char *arg) {
    unsigned long long mib = strtoull(arg, NULL, 10);
    if (mib == 0)
        return 2;
    size_t bytes = (size_t)mib << 20;
    struct timespec a, b, c, d;
    clock_gettime(CLOCK_MONOTONIC, &a);
    char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 1;
    memset(m, 0x5a, bytes);
    clock_gettime(CLOCK_MONOTONIC, &b);
    munmap(m, bytes);
    clock_gettime(CLOCK_MONOTONIC, &c);
    m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (m == MAP_FAILED)
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &d);
    munmap(m, bytes);
    double t1 = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    double t2 = (d.tv_sec - c.tv_sec) * 1e3 + (d.tv_nsec - c.tv_nsec) / 1e6;
    printf("touch_ms=%.1f populate_ms=%.1f\n", t1, t2);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--touch") == 0)
        return touch_baseline(argv[2]);
    int answer = argc > 1 && strcmp(argv[1], "--answer") == 0;
    if (answer) {
        argv++;
        argc--;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: %s SIZE_MIB RESULT_FILE [SEED]\n", argv[0]);
        return 2;
    }
    char *end;
    unsigned long long mib = strtoull(argv[1], &end, 10);
    if (*end || mib == 0) {
        fprintf(stderr, "memhog: bad size '%s'\n", argv[1]);
        return 2;
    }
    if (strlen(argv[2]) >= sizeof(result_path)) {
        fprintf(stderr, "memhog: result path too long\n");
        return 2;
    }
    strcpy(result_path, argv[2]);
    strcpy(result_tmp, result_path);
    strcat(result_tmp, ".tmp");
    strcpy(answer_path, result_path);
    strcat(answer_path, ".answer");
    seed = argc > 3 ? strtoull(argv[3], NULL, 0) : 0x2545F4914F6CDD1Dull ^ (uint64_t)getpid();
    if (seed == 0)
        seed = 1; /* xorshift must not start at 0 */

    size_t bytes = (size_t)mib << 20;
    nwords = bytes / 8;
    /* MAP_POPULATE: pre-faulting is ~2x faster than first-touch faults here. */
    mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (mem == MAP_FAILED) {
        perror("memhog: mmap");
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR1); /* handlers never nest */
    sigaddset(&sa.sa_mask, SIGUSR2);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = answer ? on_usr2_answer : on_usr2;
    sigaction(SIGUSR2, &sa, NULL);

    uint64_t t0 = now_ms();
    fill();
    uint64_t t1 = now_ms();
    start_sum = checksum();
    uint64_t t2 = now_ms();

    printf("READY sum=%016llx mib=%llu pid=%d fill_ms=%llu sum_ms=%llu\n",
           (unsigned long long)start_sum, mib, (int)getpid(),
           (unsigned long long)(t1 - t0), (unsigned long long)(t2 - t1));
    fflush(stdout);

    for (;;)
        pause();
}
