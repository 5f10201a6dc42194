/*
 * cryo test fixture: a SysV shared memory segment attached twice, each attach partly unmapped.
 *
 *   sysv_part
 *
 * A 16-page segment (IPC_PRIVATE, marked destroyed at once, so it goes away with the process) is
 * attached read-write at A and filled with a pattern; pages 3-4 and 10 of A are unmapped (pieces at pgoff
 * 0, 5 and 11), an anonymous page is mapped at A+3 pages in the gap, and the piece at pgoff 11 is made
 * read-only. It is attached again read-only at B, whose first two pages are unmapped (one piece at
 * pgoff 2).
 * Prints "READY <pid> <shmid>" and "ATTACH <A hex> <B hex>".
 * Commands on stdin:
 *   check    verifies every piece (pattern at its offset in the segment), that the gaps are unmapped, the
 *            anonymous page in the gap, and that a write through A is seen through B; prints
 *            "NATTCH <n>" then "OK" or "FAIL ..." lines and "FAILED"
 *   detach   shmdt(A): every piece of the first attach must go, B must stay; prints "DETACH OK" or
 *            "DETACH FAILED"
 *   quit     prints BYE and exits 0
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#define PAGE 4096UL
#define PAGES 16UL

static unsigned char *a, *b, *gap;
static int id, failed;

static uint64_t pat(uint64_t i) {
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ULL;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 29);
}

static void die(const char *what) {
    printf("ERROR %s: %s\n", what, strerror(errno));
    exit(2);
}

static int mapped(void *p) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long s, e;
        if (sscanf(line, "%lx-%lx", &s, &e) == 2 && (unsigned long)p >= s && (unsigned long)p < e) found = 1;
    }
    if (f) fclose(f);
    return found;
}

static void piece(unsigned char *base, unsigned long from, unsigned long to, const char *name) {
    for (unsigned long p = from; p < to; p++) {
        uint64_t *w = (uint64_t *)(base + p * PAGE);
        for (unsigned long i = 1; i < PAGE / 8; i++) {
            uint64_t want = pat(p * PAGE / 8 + i);
            if (w[i] != want) {
                printf("FAIL %s page %lu word %lu is %llx, expected %llx\n", name, p, i, (unsigned long long)w[i], (unsigned long long)want);
                failed++;
                return;
            }
        }
    }
}

static void gone(unsigned char *p, const char *what) {
    if (mapped(p)) {
        printf("FAIL %s is mapped\n", what);
        failed++;
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    id = shmget(IPC_PRIVATE, PAGES * PAGE, IPC_CREAT | 0600);
    if (id < 0) die("shmget");
    a = shmat(id, NULL, 0);
    if (a == (void *)-1) die("shmat A");
    b = shmat(id, NULL, SHM_RDONLY);
    if (b == (void *)-1) die("shmat B");
    if (shmctl(id, IPC_RMID, NULL)) die("IPC_RMID");
    uint64_t *w = (uint64_t *)a;
    for (unsigned long i = 0; i < PAGES * PAGE / 8; i++) w[i] = pat(i);
    if (munmap(a + 3 * PAGE, 2 * PAGE) || munmap(a + 10 * PAGE, PAGE)) die("munmap A");
    gap = mmap(a + 3 * PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (gap != a + 3 * PAGE) die("mmap in the gap");
    memset(gap, 0x5a, PAGE);
    if (mprotect(a + 11 * PAGE, 5 * PAGE, PROT_READ)) die("mprotect A");
    if (munmap(b, 2 * PAGE)) die("munmap B");
    printf("READY %d %d\n", getpid(), id);
    printf("ATTACH %lx %lx\n", (unsigned long)a, (unsigned long)b);
    char line[256];
    uint64_t round = 0;
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "check", 5)) {
            failed = 0;
            struct shmid_ds ds;
            if (shmctl(id, IPC_STAT, &ds)) die("IPC_STAT");
            printf("NATTCH %lu\n", (unsigned long)ds.shm_nattch);
            piece(a, 0, 3, "A");
            piece(a, 5, 10, "A");
            piece(a, 11, 16, "A");
            piece(b, 2, 16, "B");
            gone(a + 4 * PAGE, "A page 4");
            gone(a + 10 * PAGE, "A page 10");
            gone(b, "B page 0");
            for (unsigned long i = 0; i < PAGE; i++)
                if (gap[i] != 0x5a) { printf("FAIL the page in the gap, byte %lu\n", i); failed++; break; }
            round++;
            ((uint64_t *)(a + 6 * PAGE))[0] = round;
            if (((uint64_t *)(b + 6 * PAGE))[0] != round) { printf("FAIL a write through A is not seen through B\n"); failed++; }
            printf(failed ? "FAILED\n" : "OK\n");
        } else if (!strncmp(line, "detach", 6)) {
            failed = 0;
            if (shmdt(a)) { printf("FAIL shmdt: %s\n", strerror(errno)); failed++; }
            gone(a, "A page 0");
            gone(a + 6 * PAGE, "A page 6");
            gone(a + 12 * PAGE, "A page 12");
            if (!mapped(gap)) { printf("FAIL the page in the gap went with A\n"); failed++; }
            piece(b, 2, 6, "B");
            printf(failed ? "DETACH FAILED\n" : "DETACH OK\n");
        } else if (!strncmp(line, "quit", 4)) {
            break;
        }
    }
    printf("BYE\n");
    return 0;
}
