/*
 * cryo test fixture: a parent and its forked child that still share most of their private memory
 * copy-on-write.
 *
 *   cow
 *
 * The parent maps RO (256 pages) and right above it REGION (8192 pages), anonymous private, fills both
 * with a pattern of each page's index and makes RO read-only (two VMAs side by side, so runs of shared
 * pages cross from one to the other), then forks. The child writes its own pattern into pages 64-127 of
 * REGION and drops pages 200-231 (MADV_DONTNEED: zero for it); the parent then writes pages 300-363
 * with a third pattern. Every other page stays shared by the pair.
 * Prints "READY <parent pid> <child pid>" and "REGION <start hex> <end hex> <ro start hex> <ro end hex>".
 * Commands on the parent's stdin:
 *   check   both verify every page of REGION and RO; prints "OK" or "FAIL ..." lines then "FAILED"
 *   quit    SIGKILLs the child, reaps it, prints BYE, exits 0
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096UL
#define PAGES 8192UL
#define RO_PAGES 256UL

static unsigned char *region, *ro;
static int to_child[2], from_child[2];

static uint64_t pat(uint64_t seed, uint64_t i) {
    uint64_t x = (seed + 1) * 0x9E3779B97F4A7C15ULL + i * 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 29);
}

static void die(const char *what) {
    printf("ERROR %s: %s\n", what, strerror(errno));
    exit(2);
}

static void fill(unsigned char *base, unsigned long from, unsigned long to, uint64_t seed) {
    for (unsigned long p = from; p < to; p++) {
        uint64_t *w = (uint64_t *)(base + p * PAGE);
        w[0] = pat(seed, p);
        w[PAGE / 8 - 1] = ~pat(seed, p);
    }
}

/* 0 = the pattern of seed for page p, or zero when seed is ~0 */
static int page_ok(unsigned char *base, unsigned long p, uint64_t seed, const char *who) {
    uint64_t *w = (uint64_t *)(base + p * PAGE);
    uint64_t want0 = seed == ~0ULL ? 0 : pat(seed, p), want1 = seed == ~0ULL ? 0 : ~pat(seed, p);
    if (w[0] != want0 || w[PAGE / 8 - 1] != want1) {
        printf("FAIL %s: page %lu is %llx/%llx, expected %llx/%llx\n", who, p, (unsigned long long)w[0],
               (unsigned long long)w[PAGE / 8 - 1], (unsigned long long)want0, (unsigned long long)want1);
        return 1;
    }
    return 0;
}

static int verify(int child) {
    const char *who = child ? "child" : "parent";
    int bad = 0;
    for (unsigned long p = 0; p < PAGES && bad < 5; p++) {
        uint64_t seed = 1;
        if (child && p >= 64 && p < 128) seed = 2;
        else if (child && p >= 200 && p < 232) seed = ~0ULL;
        else if (!child && p >= 300 && p < 364) seed = 3;
        bad += page_ok(region, p, seed, who);
    }
    for (unsigned long p = 0; p < RO_PAGES && bad < 5; p++) bad += page_ok(ro, p, 4, who);
    return bad;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    ro = mmap(NULL, (RO_PAGES + PAGES) * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ro == MAP_FAILED) die("mmap");
    region = ro + RO_PAGES * PAGE;
    madvise(ro, (RO_PAGES + PAGES) * PAGE, MADV_NOHUGEPAGE);  /* small pages: their sharing is what is counted */
    fill(region, 0, PAGES, 1);
    fill(ro, 0, RO_PAGES, 4);
    if (mprotect(ro, RO_PAGES * PAGE, PROT_READ)) die("mprotect");
    if (pipe(to_child) || pipe(from_child)) die("pipe");
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        fill(region, 64, 128, 2);
        if (madvise(region + 200 * PAGE, 32 * PAGE, MADV_DONTNEED)) die("MADV_DONTNEED");
        char c = 'r';
        if (write(from_child[1], &c, 1) != 1) _exit(3);
        while (read(to_child[0], &c, 1) == 1) {
            c = verify(1) ? 'f' : 'k';
            if (write(from_child[1], &c, 1) != 1) _exit(3);
        }
        _exit(0);
    }
    char c;
    if (read(from_child[0], &c, 1) != 1) die("child ready");
    fill(region, 300, 364, 3);
    printf("READY %d %d\n", getpid(), child);
    printf("REGION %lx %lx %lx %lx\n", (unsigned long)region, (unsigned long)(region + PAGES * PAGE), (unsigned long)ro,
           (unsigned long)(ro + RO_PAGES * PAGE));
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "check", 5)) {
            int bad = verify(0);
            c = 'c';
            if (write(to_child[1], &c, 1) != 1 || read(from_child[0], &c, 1) != 1) die("child check");
            if (c != 'k') bad++;
            printf(bad ? "FAILED\n" : "OK\n");
        } else if (!strncmp(line, "quit", 4)) {
            break;
        }
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    printf("BYE\n");
    return 0;
}
