/*
 * lazy: checks its own memory after a lazy restart (LazyRestartTest).
 *
 *   lazy SIZE_MIB
 *
 * Maps SIZE_MIB MiB of private anonymous memory, writes a pattern of its own into every page, prints
 * "READY <pid>", then reads commands on stdin, one per line, answering one line each:
 *   check     reads every page in a random order (a new one each time) and compares it with the pattern;
 *             "OK <pages>" or "FAIL page <i> word <w>"; the pages that "write" and "dontneed" changed are
 *             checked against what they must hold now
 *   fork      forks a child that runs "check" and exits 0 or 1; "CHILD OK" or "CHILD FAIL <status>"
 *   write     writes a new value into the last page (first touch since the restart: the background fill
 *             goes in address order) and reads it back; "WRITE OK"
 *   dontneed  MADV_DONTNEED on 16 pages near the end and reads them: zeros; "DONTNEED OK"
 *   quit      exits 0
 * At the end of stdin it runs "check" and exits 0 if it passed, 1 if not.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define WORDS (PAGE / 8)
#define DN_PAGES 16

static uint64_t *mem;
static size_t npages;
static int written = 0, dropped = 0;
static const uint64_t NEW = 0x5757575757575757ull;

static uint64_t pattern(size_t page, size_t word) {
    return (page + 1) * 0x9E3779B97F4A7C15ull ^ (word * 0xBF58476D1CE4E5B9ull);
}

static size_t written_page(void) { return npages - 1; }
static size_t dn_first(void) { return npages - 1 - 4 * DN_PAGES; }

static int check_page(size_t p, size_t *bad_word) {
    uint64_t *pg = mem + p * WORDS;
    for (size_t w = 0; w < WORDS; w++) {
        uint64_t want = pattern(p, w);
        if (dropped && p >= dn_first() && p < dn_first() + DN_PAGES) want = 0;
        if (written && p == written_page() && w == 7) want = NEW;
        if (pg[w] != want) {
            *bad_word = w;
            return 0;
        }
    }
    return 1;
}

static int check(char *out, size_t outlen) {
    size_t *order = malloc(npages * sizeof *order);
    for (size_t i = 0; i < npages; i++) order[i] = i;
    uint64_t x = (uint64_t) time(NULL) * 2654435761u ^ (uint64_t) getpid() ^ (uint64_t) clock();
    for (size_t i = npages - 1; i > 0; i--) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        size_t j = x % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < npages; i++) {
        size_t w;
        if (!check_page(order[i], &w)) {
            snprintf(out, outlen, "FAIL page %zu word %zu (check #%zu) has %016llx", order[i], w, i,
                     (unsigned long long) mem[order[i] * WORDS + w]);
            free(order);
            return 0;
        }
    }
    free(order);
    snprintf(out, outlen, "OK %zu", npages);
    return 1;
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
    npages = mib * 256;
    mem = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) { perror("mmap"); return 2; }
    for (size_t p = 0; p < npages; p++)
        for (size_t w = 0; w < WORDS; w++) mem[p * WORDS + w] = pattern(p, w);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("READY %d\n", getpid());
    char line[256], out[256];
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "check", 5)) {
            check(out, sizeof out);
            puts(out);
        } else if (!strncmp(line, "fork", 4)) {
            pid_t c = fork();
            if (c == 0) _exit(check(out, sizeof out) ? 0 : (fprintf(stderr, "child: %s\n", out), 1));
            int st = 0;
            waitpid(c, &st, 0);
            if (WIFEXITED(st) && WEXITSTATUS(st) == 0) puts("CHILD OK");
            else printf("CHILD FAIL %d\n", st);
        } else if (!strncmp(line, "write", 5)) {
            volatile uint64_t *p = mem + written_page() * WORDS + 7;
            *p = NEW;
            written = 1;
            size_t w;
            if (*p == NEW && check_page(written_page(), &w)) puts("WRITE OK");
            else printf("WRITE FAIL word %zu\n", w);
        } else if (!strncmp(line, "dontneed", 8)) {
            uint64_t *start = mem + dn_first() * WORDS;
            if (madvise(start, DN_PAGES * PAGE, MADV_DONTNEED)) { perror("madvise"); return 2; }
            dropped = 1;
            int ok = 1;
            for (size_t i = 0; i < DN_PAGES * WORDS; i++) if (start[i]) ok = 0;
            puts(ok ? "DONTNEED OK" : "DONTNEED FAIL");
        } else if (!strncmp(line, "quit", 4)) {
            return 0;
        }
    }
    int ok = check(out, sizeof out);
    puts(out);
    return ok ? 0 : 1;
}
