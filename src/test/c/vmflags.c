/*
 * cryo test fixture: mappings whose VmFlags come from madvise, mlock and mmap flags.
 *
 *   vmflags WORKDIR            the mappings below, then commands
 *   vmflags WORKDIR uffd       also a range registered with userfaultfd (VmFlags um): cryo must refuse it
 *   vmflags WORKDIR mseal      also a sealed range (mseal, VmFlags sl): cryo must refuse it
 *
 * Mappings (each its own, filled with a pattern of its index): MADV_DONTFORK, MADV_DONTDUMP,
 * MADV_WIPEONFORK, MADV_SEQUENTIAL, MADV_RANDOM, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MAP_LOCKED,
 * mlock2(MLOCK_ONFAULT) (half written), MAP_NORESERVE, read-write then read-only (VM_ACCOUNT kept),
 * DONTDUMP+RANDOM+mlock together, a shared file mapping of an fd opened read-only (no mw), a shared
 * anonymous object mapped again read-only through /proc/self/map_files (no mw), and MADV_MERGEABLE when
 * the kernel has KSM.
 * Prints "READY <pid>", "REGION <name> <start hex> <end hex>" lines and "END".
 * Commands on stdin:
 *   check   verifies every mapping's contents; prints "OK" or "FAIL ..." lines then "FAILED"
 *   fork    forks a child that checks what fork does with the flags (the DONTFORK range is not in the
 *           child, the WIPEONFORK range reads zero, the rest is inherited); prints "FORK OK" or "FORK FAILED"
 *   quit    prints BYE and exits 0
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096UL
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif

struct region {
    const char *name;
    unsigned char *addr;
    size_t pages, filled;
};
static struct region regions[32];
static int nregions, failed;

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

static struct region *add(const char *name, size_t pages, int prot, int flags) {
    void *p = mmap(NULL, pages * PAGE, prot, flags | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die(name);
    struct region *r = &regions[nregions++];
    r->name = name;
    r->addr = p;
    r->pages = pages;
    r->filled = pages;
    return r;
}

static void fill(struct region *r) {
    uint64_t *w = (uint64_t *)r->addr;
    for (size_t i = 0; i < r->filled * PAGE / 8; i++) w[i] = pat(r - regions, i);
}

static void advise(struct region *r, int advice, const char *what) {
    if (madvise(r->addr, r->pages * PAGE, advice)) die(what);
}

static int verify(struct region *r, const char *who) {
    uint64_t *w = (uint64_t *)r->addr;
    for (size_t i = 0; i < r->filled * PAGE / 8; i++) {
        if (w[i] != pat(r - regions, i)) {
            printf("FAIL %s: %s word %zu is %llx, expected %llx\n", who, r->name, i, (unsigned long long)w[i],
                   (unsigned long long)pat(r - regions, i));
            return 1;
        }
    }
    return 0;
}

static struct region *find(const char *name) {
    for (int i = 0; i < nregions; i++)
        if (!strcmp(regions[i].name, name)) return &regions[i];
    return NULL;
}

static int in_maps(unsigned char *addr) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long s, e;
        if (sscanf(line, "%lx-%lx", &s, &e) == 2 && (unsigned long)addr >= s && (unsigned long)addr < e) found = 1;
    }
    if (f) fclose(f);
    return found;
}

static void forked(void) {
    pid_t c = fork();
    if (c < 0) die("fork");
    if (c == 0) {
        int bad = 0;
        if (in_maps(find("dontfork")->addr)) { printf("FAIL child: the DONTFORK range is mapped in the child\n"); bad++; }
        struct region *w = find("wipeonfork");
        for (size_t i = 0; i < w->pages * PAGE; i++)
            if (w->addr[i]) { printf("FAIL child: WIPEONFORK byte %zu is %d\n", i, w->addr[i]); bad++; break; }
        for (int i = 0; i < nregions; i++) {
            if (!strcmp(regions[i].name, "dontfork") || !strcmp(regions[i].name, "wipeonfork")) continue;
            bad += verify(&regions[i], "child");
        }
        fflush(stdout);
        _exit(bad ? 1 : 0);
    }
    int st;
    if (waitpid(c, &st, 0) != c) die("waitpid");
    printf(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "FORK OK\n" : "FORK FAILED\n");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2 || chdir(argv[1])) die("usage: vmflags WORKDIR [uffd|mseal]");
    const char *mode = argc > 2 ? argv[2] : "";
    struct region *r;
    r = add("dontfork", 4, PROT_READ | PROT_WRITE, MAP_PRIVATE); fill(r); advise(r, MADV_DONTFORK, "MADV_DONTFORK");
    r = add("dontdump", 4, PROT_READ | PROT_WRITE, MAP_PRIVATE); fill(r); advise(r, MADV_DONTDUMP, "MADV_DONTDUMP");
    r = add("wipeonfork", 4, PROT_READ | PROT_WRITE, MAP_PRIVATE); fill(r); advise(r, MADV_WIPEONFORK, "MADV_WIPEONFORK");
    r = add("sequential", 4, PROT_READ | PROT_WRITE, MAP_PRIVATE); fill(r); advise(r, MADV_SEQUENTIAL, "MADV_SEQUENTIAL");
    r = add("random", 4, PROT_READ | PROT_WRITE, MAP_PRIVATE); fill(r); advise(r, MADV_RANDOM, "MADV_RANDOM");
    r = add("hugepage", 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE); advise(r, MADV_HUGEPAGE, "MADV_HUGEPAGE"); fill(r);
    r = add("nohugepage", 8, PROT_READ | PROT_WRITE, MAP_PRIVATE); advise(r, MADV_NOHUGEPAGE, "MADV_NOHUGEPAGE"); fill(r);
    r = add("locked", 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_LOCKED); fill(r);
    r = add("lockonfault", 8, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if (syscall(SYS_mlock2, r->addr, r->pages * PAGE, MLOCK_ONFAULT)) die("mlock2(MLOCK_ONFAULT)");
    r->filled = 2; fill(r);
    r = add("noreserve", 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE); r->filled = 3; fill(r);
    r = add("readonly", 4, PROT_READ | PROT_WRITE, MAP_PRIVATE); fill(r);
    if (mprotect(r->addr, r->pages * PAGE, PROT_READ)) die("mprotect readonly");
    r = add("combined", 4, PROT_READ | PROT_WRITE, MAP_PRIVATE); fill(r);
    advise(r, MADV_DONTDUMP, "MADV_DONTDUMP"); advise(r, MADV_RANDOM, "MADV_RANDOM");
    if (mlock(r->addr, r->pages * PAGE)) die("mlock combined");

    /* a file written through a writable fd, mapped shared through a read-only one */
    int fd = open("shared.ro", O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) die("create shared.ro");
    r = &regions[nregions++];
    r->name = "sharedfile"; r->pages = r->filled = 2;
    static unsigned char buf[2 * PAGE];
    for (size_t i = 0; i < sizeof buf / 8; i++) ((uint64_t *)buf)[i] = pat(r - regions, i);
    if (write(fd, buf, sizeof buf) != sizeof buf) die("write shared.ro");
    close(fd);
    fd = open("shared.ro", O_RDONLY);
    r->addr = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
    if (r->addr == MAP_FAILED) die("mmap shared.ro");
    close(fd);

    /* a shared anonymous object, and its page 1 mapped again through a read-only fd */
    r = add("shanon", 4, PROT_READ | PROT_WRITE, MAP_SHARED); fill(r);
    char path[128];
    snprintf(path, sizeof path, "/proc/self/map_files/%lx-%lx", (unsigned long)r->addr, (unsigned long)(r->addr + 4 * PAGE));
    fd = open(path, O_RDONLY);
    if (fd < 0) die("open map_files");
    struct region *ro = &regions[nregions++];
    ro->name = "shanon-ro"; ro->pages = ro->filled = 1;
    ro->addr = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, PAGE);
    if (ro->addr == MAP_FAILED) die("mmap map_files read-only");
    close(fd);
    /* its contents are page 1 of shanon: the pattern of shanon's words 512.. */
    ro->filled = 0;

    r = add("mergeable", 4, PROT_READ | PROT_WRITE, MAP_PRIVATE); fill(r);
    if (madvise(r->addr, r->pages * PAGE, MADV_MERGEABLE)) {
        munmap(r->addr, r->pages * PAGE);
        nregions--;
    }

    if (!strcmp(mode, "uffd")) {
        r = add("uffd", 4, PROT_READ | PROT_WRITE, MAP_PRIVATE); fill(r);
        int u = syscall(SYS_userfaultfd, O_CLOEXEC);
        if (u < 0) die("userfaultfd");
        struct uffdio_api api = {.api = UFFD_API};
        if (ioctl(u, UFFDIO_API, &api)) die("UFFDIO_API");
        struct uffdio_register reg = {.range = {(unsigned long)r->addr, r->pages * PAGE}, .mode = UFFDIO_REGISTER_MODE_MISSING};
        if (ioctl(u, UFFDIO_REGISTER, &reg)) die("UFFDIO_REGISTER");
    } else if (!strcmp(mode, "mseal")) {
        r = add("mseal", 4, PROT_READ | PROT_WRITE, MAP_PRIVATE); fill(r);
        if (syscall(462, r->addr, r->pages * PAGE, 0)) die("mseal");
    }

    printf("READY %d\n", getpid());
    for (int i = 0; i < nregions; i++)
        printf("REGION %s %lx %lx\n", regions[i].name, (unsigned long)regions[i].addr,
               (unsigned long)(regions[i].addr + regions[i].pages * PAGE));
    printf("END\n");
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "check", 5)) {
            failed = 0;
            for (int i = 0; i < nregions; i++) failed += verify(&regions[i], "parent");
            struct region *s = find("shanon");
            if (memcmp(ro->addr, s->addr + PAGE, PAGE)) { printf("FAIL shanon-ro differs from page 1 of shanon\n"); failed++; }
            s->addr[PAGE + 5] ^= 0xff;
            if (ro->addr[5] != s->addr[PAGE + 5]) { printf("FAIL a write to shanon is not seen through shanon-ro\n"); failed++; }
            s->addr[PAGE + 5] ^= 0xff;
            printf(failed ? "FAILED\n" : "OK\n");
        } else if (!strncmp(line, "fork", 4)) {
            forked();
        } else if (!strncmp(line, "quit", 4)) {
            break;
        }
    }
    printf("BYE\n");
    return 0;
}
