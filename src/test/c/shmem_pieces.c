/*
 * cryo test fixture: one 1 GiB MAP_SHARED|MAP_ANONYMOUS object shared by a parent and its child, in pieces.
 *
 *   shmem_pieces
 *
 * The parent maps 1 GiB shared anonymous at R and writes a few scattered pages (each filled with a pattern
 * of its page index), unmaps page MID (the middle), moves the second half [MID+1, END) elsewhere with
 * mremap (so the object is mapped at two places, at pgoff 0 and pgoff MID+1), and maps page ALIAS of the
 * object once more through /proc/self/map_files at offset ALIAS * 4096 (a third mapping, at that pgoff).
 * Then it forks a child, which writes two pages of its own. Nothing reads a page that was not written
 * (a read would make the page exist in the object).
 *
 * Prints "READY <parent pid> <child pid>" and "MAPS <first half> <second half> <alias>" (hex addresses).
 * Commands on the parent's stdin:
 *   check N   both verify every written page and that unwritten pages read zero; then a round trip of
 *             shared writes: the parent writes N through the first half and the alias, the child must see
 *             both and writes N+1 through the second half, which the parent must see. Prints "OK" or
 *             "FAIL <what>" lines then "FAILED".
 *   quit      SIGKILLs the child, reaps it, prints "BYE" and exits 0.
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
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096UL
#define PAGES (262144UL) /* 1 GiB */
#define MID (PAGES / 2)
#define ALIAS 100UL

static unsigned char *first, *second, *alias;
static const unsigned long written_by_parent[] = {0, 1, ALIAS, 4096, 65535, MID - 1, MID + 1, MID + 2, 200000, PAGES - 1};
static const unsigned long written_by_child[] = {7, 150000};
static const unsigned long zero_pages[] = {2, 99, 101, 4095, 100000, MID + 3, 250000};
static int to_child[2], from_child[2];
static pid_t child;
static int failed;

static uint64_t pat(uint64_t page, uint64_t i) {
    uint64_t x = (page + 1) * 0x9E3779B97F4A7C15ULL + i * 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 29);
}

/* The address of page p of the object, wherever it is mapped now. */
static uint64_t *page(unsigned long p) {
    if (p < MID) return (uint64_t *)(first + p * PAGE);
    if (p == MID) return NULL;
    return (uint64_t *)(second + (p - MID - 1) * PAGE);
}

static void fill(unsigned long p) {
    uint64_t *w = page(p);
    for (unsigned long i = 0; i < PAGE / 8; i++) w[i] = pat(p, i);
}

static void fail(const char *who, const char *what, unsigned long p, unsigned long i, uint64_t got, uint64_t want) {
    printf("FAIL %s: %s page %lu word %lu is %llx, expected %llx\n", who, what, p, i, (unsigned long long)got, (unsigned long long)want);
    failed++;
}

/* Word 0 of pages 1 and MID+1 carries the round-trip values: it is skipped. */
static void verify(const char *who) {
    for (unsigned long k = 0; k < sizeof written_by_parent / sizeof *written_by_parent; k++) {
        unsigned long p = written_by_parent[k];
        uint64_t *w = page(p);
        for (unsigned long i = (p == 1 || p == MID + 1 || p == ALIAS) ? 1 : 0; i < PAGE / 8; i++)
            if (w[i] != pat(p, i)) { fail(who, "written", p, i, w[i], pat(p, i)); break; }
    }
    for (unsigned long k = 0; k < sizeof written_by_child / sizeof *written_by_child; k++) {
        unsigned long p = written_by_child[k];
        uint64_t *w = page(p);
        for (unsigned long i = 0; i < PAGE / 8; i++)
            if (w[i] != pat(p, i)) { fail(who, "child-written", p, i, w[i], pat(p, i)); break; }
    }
    for (unsigned long k = 0; k < sizeof zero_pages / sizeof *zero_pages; k++) {
        unsigned long p = zero_pages[k];
        uint64_t *w = page(p);
        for (unsigned long i = 0; i < PAGE / 8; i++)
            if (w[i] != 0) { fail(who, "unwritten", p, i, w[i], 0); break; }
    }
    uint64_t *a = (uint64_t *)alias, *o = page(ALIAS);
    for (unsigned long i = 1; i < PAGE / 8; i++)
        if (a[i] != o[i]) { fail(who, "alias differs from", ALIAS, i, a[i], o[i]); break; }
}

static void child_loop(void) {
    uint64_t n;
    while (read(to_child[0], &n, 8) == 8) {
        failed = 0;
        verify("child");
        if (page(1)[0] != n) fail("child", "shared write (first half)", 1, 0, page(1)[0], n);
        if (page(ALIAS)[0] != n + 7) fail("child", "shared write (through the alias)", ALIAS, 0, page(ALIAS)[0], n + 7);
        fflush(stdout);
        page(MID + 1)[0] = n + 1;
        uint64_t r = failed;
        if (write(from_child[1], &r, 8) != 8) _exit(3);
    }
    _exit(0);
}

static void die(const char *what) {
    printf("ERROR %s: %s\n", what, strerror(errno));
    exit(2);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    first = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (first == MAP_FAILED) die("mmap 1 GiB");
    second = first + (MID + 1) * PAGE;
    for (unsigned long k = 0; k < sizeof written_by_parent / sizeof *written_by_parent; k++) fill(written_by_parent[k]);
    if (munmap(first + MID * PAGE, PAGE)) die("munmap middle page");
    size_t half = (PAGES - MID - 1) * PAGE;
    void *dest = mmap(NULL, half + 64 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (dest == MAP_FAILED) die("mmap destination");
    munmap(dest, half + 64 * PAGE);
    dest = (char *)dest + 32 * PAGE; /* away from the first half, with gaps on both sides */
    second = mremap(second, half, half, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
    if (second == MAP_FAILED) die("mremap second half");
    char path[128];
    snprintf(path, sizeof path, "/proc/self/map_files/%lx-%lx", (unsigned long)first, (unsigned long)(first + MID * PAGE));
    int fd = open(path, O_RDWR);
    if (fd < 0) die("open map_files");
    alias = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, ALIAS * PAGE);
    if (alias == MAP_FAILED) die("mmap alias");
    close(fd);
    if (pipe(to_child) || pipe(from_child)) die("pipe");
    child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        close(to_child[1]);
        close(from_child[0]);
        for (unsigned long k = 0; k < sizeof written_by_child / sizeof *written_by_child; k++) fill(written_by_child[k]);
        uint64_t ready = 0;
        if (write(from_child[1], &ready, 8) != 8) _exit(3);
        child_loop();
    }
    close(to_child[0]);
    close(from_child[1]);
    uint64_t r;
    if (read(from_child[0], &r, 8) != 8) die("child ready");
    printf("READY %d %d\n", getpid(), child);
    printf("MAPS %lx %lx %lx\n", (unsigned long)first, (unsigned long)second, (unsigned long)alias);
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        unsigned long long n;
        if (sscanf(line, "check %llu", &n) == 1) {
            failed = 0;
            verify("parent");
            page(1)[0] = n;
            ((uint64_t *)alias)[0] = n + 7;
            if (write(to_child[1], &n, 8) != 8) die("write to child");
            if (read(from_child[0], &r, 8) != 8) die("read from child");
            failed += (int)r;
            if (page(MID + 1)[0] != n + 1) fail("parent", "shared write from the child (second half)", MID + 1, 0, page(MID + 1)[0], n + 1);
            printf(failed ? "FAILED\n" : "OK\n");
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        }
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    printf("BYE\n");
    return 0;
}
