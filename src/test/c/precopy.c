/*
 * Pre-copy fixture: writes random pages of its memory all the time, and checks all of it on SIGUSR1.
 * usage: precopy MB
 * R1 (MB MiB), R2 (64 pages) and R3 (32 pages) hold pages whose contents follow from (region, page, gen),
 * gen kept in arrays of their own (gen 0: the page must read as zeros, after MADV_DONTNEED). Once it sees a
 * VMA of its own registered with userfaultfd ("uw" in smaps: a pre-copy has begun), it forks a child that
 * writes on the same way, replaces R2 by a new mapping, moves R3 with mremap and zaps pages of R1.
 * Prints "READY pid", "REGION addr bytes", "CHILD pid", and on SIGUSR1 "OK parent|child N" or "FAIL ...".
 * The parent passes SIGUSR1 on to its child. "uffd" as second argument registers a page of its own with a
 * userfaultfd (which cryo must refuse); "still" skips the fork and remapping (a leaf: lazy restart takes it).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
struct region { char *base; long pages; uint32_t *gen; long id; };
static struct region r1, r2, r3;
static volatile sig_atomic_t check_wanted;
static pid_t child;
static int is_child;
static uint64_t rng = 88172645463325252ULL;

static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static uint64_t word(long id, long i, uint32_t gen, long k) {
    if (gen == 0) return 0;
    return ((uint64_t) (id * 1000003 + i) * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t) gen * 0xBF58476D1CE4E5B9ULL) ^ (uint64_t) k;
}

static void fill(struct region *r, long i, uint32_t gen) {
    uint64_t *p = (uint64_t *) (r->base + i * PAGE);
    for (long k = 0; k < PAGE / 8; k++) p[k] = word(r->id, i, gen, k);
    r->gen[i] = gen;
}

static void *anon(long bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(2); }
    return p;
}

static void make(struct region *r, long id, long pages) {
    r->id = id;
    r->pages = pages;
    r->base = anon(pages * PAGE);
    r->gen = anon(pages * sizeof(uint32_t));
    for (long i = 0; i < pages; i++) fill(r, i, 1);
}

static void say(const char *s) {
    if (write(1, s, strlen(s)) < 0) _exit(3);
}

static int check(struct region *r, char *why, size_t n) {
    for (long i = 0; i < r->pages; i++) {
        uint64_t *p = (uint64_t *) (r->base + i * PAGE);
        for (long k = 0; k < PAGE / 8; k++) {
            if (p[k] != word(r->id, i, r->gen[i], k)) {
                snprintf(why, n, "region %ld page %ld word %ld: 0x%llx, gen %u wants 0x%llx", r->id, i, k,
                         (unsigned long long) p[k], r->gen[i], (unsigned long long) word(r->id, i, r->gen[i], k));
                return 0;
            }
        }
    }
    return 1;
}

static void on_usr1(int s) { (void) s; check_wanted = 1; }

static int uw_seen(void) {
    static char buf[1 << 20];
    int fd = open("/proc/self/smaps", O_RDONLY);
    if (fd < 0) return 0;
    long n = 0, r;
    while (n < (long) sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0) n += r;
    close(fd);
    buf[n] = 0;
    for (char *l = strstr(buf, "VmFlags:"); l; l = strstr(l + 1, "VmFlags:")) {
        char *e = strchr(l, '\n');
        if (e) *e = 0;
        int hit = strstr(l, " uw") != NULL;
        if (e) *e = '\n';
        if (hit) return 1;
    }
    return 0;
}

/* What a pre-copy must cope with, between its rounds. */
static void upheaval(void) {
    char line[64];
    pid_t c = fork();
    if (c < 0) { perror("fork"); exit(2); }
    if (c == 0) {
        /* dies with its parent (a test that kills the parent never leaves the child behind; cryo keeps it) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) _exit(0);
        is_child = 1;
        rng ^= 0x1234567;
        return;
    }
    child = c;
    snprintf(line, sizeof line, "CHILD %d\n", c);
    say(line);
    munmap(r2.base, r2.pages * PAGE);            /* R2 anew: a VMA cryo never registered */
    r2.base = anon(r2.pages * PAGE);
    for (long i = 0; i < r2.pages; i++) fill(&r2, i, 7);
    char *moved = mremap(r3.base, r3.pages * PAGE, r3.pages * PAGE * 2, MREMAP_MAYMOVE);
    if (moved == MAP_FAILED) { perror("mremap"); exit(2); }
    r3.base = moved;                             /* same contents, elsewhere: registration dropped */
    for (int k = 0; k < 64; k++) {
        long i = next() % r1.pages;
        madvise(r1.base + i * PAGE, PAGE, MADV_DONTNEED);
        r1.gen[i] = 0;
    }
}

static void own_uffd(void) {
    int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) { perror("userfaultfd"); exit(2); }
    struct uffdio_api api = { .api = UFFD_API };
    if (ioctl(fd, UFFDIO_API, &api)) { perror("UFFDIO_API"); exit(2); }
    char *p = anon(PAGE);
    struct uffdio_register reg = { .range = { (unsigned long) p, PAGE }, .mode = UFFDIO_REGISTER_MODE_MISSING };
    if (ioctl(fd, UFFDIO_REGISTER, &reg)) { perror("UFFDIO_REGISTER"); exit(2); }
}

int main(int argc, char **argv) {
    long mb = argc > 1 ? atol(argv[1]) : 64;
    char line[512];
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGUSR1, on_usr1);
    make(&r1, 1, mb * 256);
    make(&r2, 2, 64);
    make(&r3, 3, 32);
    if (argc > 2 && !strcmp(argv[2], "uffd")) own_uffd();
    rng ^= getpid();
    snprintf(line, sizeof line, "REGION %p %ld\n", r1.base, r1.pages * PAGE);
    say(line);
    snprintf(line, sizeof line, "READY %d\n", getpid());
    say(line);
    int upheaved = argc > 2 && !strcmp(argv[2], "still");     /* "still": no fork, no remapping */
    for (unsigned long n = 0;; n++) {
        if (check_wanted) {
            check_wanted = 0;
            if (child > 0) kill(child, SIGUSR1);
            char why[256];
            int ok = check(&r1, why, sizeof why) && check(&r2, why, sizeof why) && check(&r3, why, sizeof why);
            if (ok) snprintf(line, sizeof line, "OK %s %ld\n", is_child ? "child" : "parent", r1.pages);
            else snprintf(line, sizeof line, "FAIL %s %s\n", is_child ? "child" : "parent", why);
            say(line);
        }
        uint64_t x = next();
        struct region *r = x % 16 == 0 ? &r2 : x % 16 == 1 ? &r3 : &r1;
        long i = (x >> 8) % r->pages;
        if ((x >> 40) % 32 == 0 && r == &r1) {
            madvise(r->base + i * PAGE, PAGE, MADV_DONTNEED);
            r->gen[i] = 0;
            if ((x >> 50) & 1) (void) *(volatile char *) (r->base + i * PAGE);   /* the zero page */
        } else {
            fill(r, i, r->gen[i] + 1 + (x >> 60));
        }
        if (!is_child && !upheaved && n % 256 == 0 && uw_seen()) {
            upheaved = 1;
            upheaval();
        }
        if (n % 4 == 0) usleep(200);
    }
}
