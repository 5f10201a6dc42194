/*
 * precopy: target of bench/precopy.sh (checkpoint --pre-copy).
 *
 *   precopy SIZE_MIB RESULT_FILE RATE_KIB
 *
 * Maps SIZE_MIB MiB of private anonymous memory, fills every page, prints "READY", then keeps writing
 * RATE_KIB KiB per second to random pages (one page at a time) while it wakes every millisecond, noting
 * the longest time between two wake-ups: how long it was stopped (a freeze, or a migration from the freeze
 * to the restored process running). SIGUSR1: checks every page (each holds words derived from its index and
 * the number of times it was written), then writes one line to RESULT_FILE (via RESULT_FILE.tmp):
 *   OK maxgap_ms=<longest stop> pages=<n>      or      BAD page=<i> ...
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
static volatile sig_atomic_t check_wanted;
static void on_usr1(int s) { (void) s; check_wanted = 1; }

static inline uint64_t word(uint64_t i, uint32_t gen, uint64_t k) {
    return (i * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t) gen * 0xBF58476D1CE4E5B9ULL) ^ k;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: precopy SIZE_MIB RESULT_FILE RATE_KIB\n"); return 2; }
    uint64_t pages = strtoull(argv[1], NULL, 10) * 256;
    const char *result = argv[2];
    double rate = atof(argv[3]) * 1024 / PAGE;          /* pages per second */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", result);
    uint64_t *mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint32_t *gen = mmap(NULL, pages * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED || gen == MAP_FAILED) { perror("mmap"); return 1; }
    for (uint64_t i = 0; i < pages; i++)
        for (uint64_t k = 0; k < PAGE / 8; k++) mem[i * PAGE / 8 + k] = word(i, 0, k);
    signal(SIGUSR1, on_usr1);
    printf("READY %d\n", getpid());
    fflush(stdout);
    uint64_t rng = 88172645463325252ULL ^ (uint64_t) getpid();
    double start = now_ms(), last = start, maxgap = 0, written = 0;
    for (;;) {
        double t = now_ms();
        if (t - last > maxgap) maxgap = t - last;
        last = t;
        while (written < (t - start) / 1e3 * rate) {
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
            uint64_t i = rng % pages;
            gen[i]++;
            for (uint64_t k = 0; k < PAGE / 8; k++) mem[i * PAGE / 8 + k] = word(i, gen[i], k);
            written++;
        }
        if (check_wanted) {
            check_wanted = 0;
            char line[256];
            snprintf(line, sizeof line, "OK maxgap_ms=%.1f pages=%llu\n", maxgap, (unsigned long long) pages);
            for (uint64_t i = 0; i < pages; i++) {
                for (uint64_t k = 0; k < PAGE / 8; k++) {
                    if (mem[i * PAGE / 8 + k] != word(i, gen[i], k)) {
                        snprintf(line, sizeof line, "BAD page=%llu word=%llu gen=%u maxgap_ms=%.1f\n",
                                 (unsigned long long) i, (unsigned long long) k, gen[i], maxgap);
                        i = pages;
                        break;
                    }
                }
            }
            FILE *f = fopen(tmp, "w");
            if (f) { fputs(line, f); fclose(f); rename(tmp, result); }
            last = now_ms();                /* the check's own time is no stop */
        }
        usleep(1000);
    }
}
