/*
 * baseline: what the machine allows, for bench/run.sh's `baseline` mode.
 *
 *   baseline [SIZE_MIB [REPEAT [DIR [NAME]]]]     defaults: 1024 3 /dev/shm cryo-baseline.<pid>
 *
 * Moves SIZE_MIB MiB of random data the way a checkpoint or a restart must,
 * without any of cryo's work (no image format, no checksums, no JVM), to show
 * the ceilings that cryo's own figures can be compared with:
 *
 *   1. readv         process_vm_readv of a child's memory into a reused 2 MiB
 *                    buffer per thread: the copy alone.
 *   2. readv+pwrite  the same, each buffer then pwrite()n at its offset into a
 *                    fresh file DIR/NAME (unlinked after each run): the floor
 *                    for a checkpoint writing its image to DIR.
 *   3. writev        process_vm_writev from DIR/NAME holding the data (written
 *                    first, untimed; mmap'd read-only in each timed run, as a
 *                    restart maps its image) into a fresh private anonymous
 *                    mapping of another child: the floor for a restart's
 *                    memory phase (every target page is newly allocated).
 *   4. populate      faulting in SIZE_MIB of fresh anonymous memory in this
 *                    process with MADV_POPULATE_WRITE (one thread);
 *      touch         the same by writing one byte per 4 KiB page.
 *
 * 1-3 run with 1 and 2 threads; the threads take 2 MiB chunks in turn from a
 * shared counter. Each measurement is repeated REPEAT times (the runs of the
 * measurements of one part interleaved) and the median is printed, one line each:
 *     NAME  THREADS  SECONDS  GB/s        (GB = 10^9 bytes)
 * Every run is also logged on stderr. Exit status 0, or 1 with a message.
 *
 * The data is held by a forked child: a private anonymous mapping filled with
 * an xorshift64 sequence (so it does not compress and no page is shared), its
 * address sent through a pipe, then pause() forever. Children get
 * PR_SET_PDEATHSIG(SIGKILL); in any case the parent kills them by pid and reaps
 * them with waitpid, and unlinks the file it created, at exit (atexit) and on
 * SIGINT, SIGTERM and SIGHUP. Worker threads block those signals, so the
 * handler runs in the main thread, with async-signal-safe calls only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define CHUNK (2UL << 20)
#define MAX_THREADS 2
#define PAGE 4096UL

/* ---- clean-up state: read by the signal handler ---- */
#define MAX_KIDS 4
static volatile pid_t kids[MAX_KIDS];   /* children alive (0 = free slot) */
static char path[4096];                 /* DIR/NAME */
static volatile sig_atomic_t have_file; /* we created path and it is not unlinked yet */
static pid_t self;                      /* the parent: children do no clean-up */

static void cleanup(void) {
    if (getpid() != self)
        return;
    for (int i = 0; i < MAX_KIDS; i++) {
        pid_t p = kids[i];
        if (p > 0) {
            kill(p, SIGKILL);
            while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
                ;
            kids[i] = 0;
        }
    }
    if (have_file) {
        unlink(path);
        have_file = 0;
    }
}

static void on_signal(int sig) {
    sigset_t one;
    cleanup();
    signal(sig, SIG_DFL); /* then die of the signal itself */
    sigemptyset(&one);
    sigaddset(&one, sig);
    raise(sig);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    _exit(128 + sig);
}

static void die(const char *fmt, ...) {
    va_list ap;
    int e = errno;
    fprintf(stderr, "baseline: error: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (e)
        fprintf(stderr, ": %s", strerror(e));
    fputc('\n', stderr);
    exit(1);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline uint64_t xorshift64(uint64_t x) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

/* ---- children ---- */
struct kid {
    pid_t pid;
    uint64_t addr; /* its mapping of `size` bytes */
};

/* Forks a child that maps `size` bytes of private anonymous memory (filled with
 * the xorshift sequence from `seed` if seed != 0, else left untouched), sends
 * the address through a pipe and pauses forever. Signals are blocked across the
 * fork so that the handler never sees a child missing from kids[]. */
static struct kid spawn(size_t size, uint64_t seed) {
    int fds[2], slot = -1;
    sigset_t all, old;
    struct kid k = {0, 0};
    for (int i = 0; i < MAX_KIDS; i++)
        if (kids[i] == 0) {
            slot = i;
            break;
        }
    if (slot < 0) {
        errno = 0;
        die("too many children");
    }
    if (pipe2(fds, O_CLOEXEC) < 0)
        die("pipe");
    fflush(NULL);
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t pid = fork();
    if (pid < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        die("fork");
    }
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != self)
            _exit(1);
        sigprocmask(SIG_SETMASK, &old, NULL);
        close(fds[0]);
        int flags = MAP_PRIVATE | MAP_ANONYMOUS | (seed ? MAP_POPULATE : 0);
        uint64_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (m == MAP_FAILED)
            _exit(1);
        if (seed) {
            uint64_t x = seed;
            for (size_t i = 0; i < size / 8; i++) {
                x = xorshift64(x);
                m[i] = x;
            }
        }
        uint64_t a = (uint64_t)(uintptr_t)m;
        if (write(fds[1], &a, sizeof(a)) != (ssize_t)sizeof(a))
            _exit(1);
        close(fds[1]);
        for (;;)
            pause();
    }
    kids[slot] = pid;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(fds[1]);
    ssize_t r;
    do
        r = read(fds[0], &k.addr, sizeof(k.addr));
    while (r < 0 && errno == EINTR);
    close(fds[0]);
    if (r != (ssize_t)sizeof(k.addr)) {
        errno = 0;
        die("child %d died before it was ready (out of memory?)", (int)pid);
    }
    k.pid = pid;
    return k;
}

static void reap(struct kid *k) {
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    kill(k->pid, SIGKILL);
    while (waitpid(k->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    for (int i = 0; i < MAX_KIDS; i++)
        if (kids[i] == k->pid)
            kids[i] = 0;
    sigprocmask(SIG_SETMASK, &old, NULL);
    k->pid = 0;
}

/* ---- the parallel copies ---- */
enum kind { READV, READV_PWRITE, WRITEV };

struct job {
    enum kind kind;
    pid_t pid;
    uint64_t remote;   /* the child's mapping */
    const char *local; /* WRITEV: the source (the mapped file) */
    int fd;            /* READV_PWRITE: the file */
    size_t size;
    size_t next;       /* next chunk index (atomic) */
    int failed;        /* atomic: the first error stops everyone */
    int err;
    char what[96];
    size_t at;
};

struct worker {
    struct job *job;
    char *buf; /* CHUNK bytes, faulted in before any timing */
};

static void fail(struct job *j, const char *what, size_t off, int err) {
    int expected = 0;
    if (__atomic_compare_exchange_n(&j->failed, &expected, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        snprintf(j->what, sizeof(j->what), "%s", what);
        j->at = off;
        j->err = err;
    }
}

static void *work(void *arg) {
    struct worker *w = arg;
    struct job *j = w->job;
    for (;;) {
        if (__atomic_load_n(&j->failed, __ATOMIC_RELAXED))
            break;
        size_t off = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED) * CHUNK;
        if (off >= j->size)
            break;
        size_t len = j->size - off < CHUNK ? j->size - off : CHUNK;
        size_t done = 0;
        while (done < len) {
            struct iovec l, r;
            ssize_t n;
            r.iov_base = (void *)(uintptr_t)(j->remote + off + done);
            r.iov_len = len - done;
            if (j->kind == WRITEV) {
                l.iov_base = (void *)(j->local + off + done);
                l.iov_len = len - done;
                n = process_vm_writev(j->pid, &l, 1, &r, 1, 0);
            } else {
                l.iov_base = w->buf + done;
                l.iov_len = len - done;
                n = process_vm_readv(j->pid, &l, 1, &r, 1, 0);
            }
            if (n <= 0) {
                fail(j, j->kind == WRITEV ? "process_vm_writev" : "process_vm_readv", off + done, n < 0 ? errno : EIO);
                return NULL;
            }
            done += (size_t)n;
        }
        if (j->kind == READV_PWRITE) {
            done = 0;
            while (done < len) {
                ssize_t n = pwrite(j->fd, w->buf + done, len - done, (off_t)(off + done));
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0) {
                    fail(j, "pwrite", off + done, n < 0 ? errno : ENOSPC);
                    return NULL;
                }
                done += (size_t)n;
            }
        }
    }
    return NULL;
}

static struct worker workers[MAX_THREADS];

/* Runs the job on `threads` threads; returns the seconds from before the first
 * thread starts until the last one has finished. */
static double run_job(struct job *j, int threads) {
    pthread_t t[MAX_THREADS];
    sigset_t all, old;
    j->next = 0;
    j->failed = 0;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* inherited by the workers */
    double t0 = now();
    for (int i = 0; i < threads; i++) {
        workers[i].job = j;
        int e = pthread_create(&t[i], NULL, work, &workers[i]);
        if (e) {
            errno = e;
            die("pthread_create");
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double t1 = now();
    if (j->failed) {
        errno = j->err;
        die("%s at offset %zu (pid %d)", j->what, j->at, (int)j->pid);
    }
    return t1 - t0;
}

static int create_file(void) {
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        die("create %s", path);
    have_file = 1;
    return fd;
}

static void remove_file(void) {
    if (have_file && unlink(path) < 0)
        die("unlink %s", path);
    have_file = 0;
}

static void check_size(int fd, size_t size) {
    struct stat st;
    if (fstat(fd, &st) < 0)
        die("fstat %s", path);
    if ((size_t)st.st_size != size) {
        errno = 0;
        die("%s holds %lld bytes, not %zu", path, (long long)st.st_size, size);
    }
}

/* ---- results ---- */
#define MAX_REPEAT 1000
struct result {
    const char *name;
    int threads;
    int n;
    double s[MAX_REPEAT];
};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void record(struct result *r, double s, int rep) {
    r->s[r->n++] = s;
    fprintf(stderr, "baseline: %-14s %d thread%s run %d: %.3f s\n", r->name, r->threads, r->threads > 1 ? "s" : " ",
            rep, s);
}

static size_t size_bytes;

static void print(struct result *r) {
    double m;
    qsort(r->s, (size_t)r->n, sizeof(double), cmp_double);
    m = r->n % 2 ? r->s[r->n / 2] : (r->s[r->n / 2 - 1] + r->s[r->n / 2]) / 2;
    printf("%-14s %7d %9.3f %9.2f\n", r->name, r->threads, m, size_bytes / m / 1e9);
    fflush(stdout);
}

static struct result res[8];
static int nres;
static struct result *result(const char *name, int threads) {
    struct result *r = &res[nres++];
    r->name = name;
    r->threads = threads;
    r->n = 0;
    return r;
}

static unsigned long arg_num(const char *s, const char *what, unsigned long max) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v == 0 || v > max || *s == '-' || *s == '+') {
        errno = 0;
        die("%s must be an integer from 1 to %lu, not '%s'", what, max, s);
    }
    return v;
}

int main(int argc, char **argv) {
    unsigned long mib = 1024, repeat = 3;
    const char *dir = "/dev/shm";
    char name[64];
    snprintf(name, sizeof(name), "cryo-baseline.%d", (int)getpid());
    self = getpid();
    if (argc > 5 || (argc > 1 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: %s [SIZE_MIB [REPEAT [DIR [NAME]]]]   (defaults: 1024 3 /dev/shm %s)\n", argv[0], name);
        return 2;
    }
    if (argc > 1)
        mib = arg_num(argv[1], "SIZE_MIB", 1UL << 20);
    if (argc > 2)
        repeat = arg_num(argv[2], "REPEAT", MAX_REPEAT);
    if (argc > 3)
        dir = argv[3];
    const char *nm = argc > 4 ? argv[4] : name;
    if (!*nm || strchr(nm, '/') || snprintf(path, sizeof(path), "%s/%s", dir, nm) >= (int)sizeof(path)) {
        errno = 0;
        die("bad file name '%s' in '%s'", nm, dir);
    }
    struct stat st;
    if (stat(dir, &st) < 0 || access(dir, W_OK) < 0)
        die("directory %s", dir);
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        die("%s", dir);
    }
    size_bytes = (size_t)mib << 20;

    atexit(cleanup);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigfillset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    for (int i = 0; i < MAX_THREADS; i++) {
        workers[i].buf = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (workers[i].buf == MAP_FAILED)
            die("mmap of a 2 MiB buffer");
        memset(workers[i].buf, 0, CHUNK);
    }

    printf("%-14s %7s %9s %9s\n", "", "threads", "seconds", "GB/s");
    fflush(stdout);

    /* 1, 2: read the holder's memory */
    uint64_t seed = 0x2545F4914F6CDD1Dull ^ (uint64_t)self;
    struct kid holder = spawn(size_bytes, seed);
    struct job j = {.pid = holder.pid, .remote = holder.addr, .size = size_bytes, .fd = -1};
    struct result *rd[2] = {result("readv", 1), result("readv", 2)};
    for (unsigned long rep = 1; rep <= repeat; rep++)
        for (int t = 1; t <= MAX_THREADS; t++) {
            j.kind = READV;
            record(rd[t - 1], run_job(&j, t), (int)rep);
        }
    print(rd[0]);
    print(rd[1]);

    struct result *wr[2] = {result("readv+pwrite", 1), result("readv+pwrite", 2)};
    for (unsigned long rep = 1; rep <= repeat; rep++)
        for (int t = 1; t <= MAX_THREADS; t++) {
            j.kind = READV_PWRITE;
            j.fd = create_file();
            record(wr[t - 1], run_job(&j, t), (int)rep);
            check_size(j.fd, size_bytes);
            close(j.fd);
            remove_file();
        }
    print(wr[0]);
    print(wr[1]);

    /* 3: the source file, written untimed and checked word by word; then the
     * holder goes (its memory is not needed any more) */
    j.kind = READV_PWRITE;
    j.fd = create_file();
    run_job(&j, MAX_THREADS);
    check_size(j.fd, size_bytes);
    reap(&holder);
    const uint64_t *src = mmap(NULL, size_bytes, PROT_READ, MAP_SHARED, j.fd, 0);
    if (src == MAP_FAILED)
        die("mmap %s", path);
    uint64_t x = seed;
    for (size_t i = 0; i < size_bytes / 8; i++) {
        x = xorshift64(x);
        if (src[i] != x) {
            errno = 0;
            die("%s differs from the holder's data at offset %zu", path, i * 8);
        }
    }
    munmap((void *)src, size_bytes);

    struct result *wv[2] = {result("writev", 1), result("writev", 2)};
    for (unsigned long rep = 1; rep <= repeat; rep++)
        for (int t = 1; t <= MAX_THREADS; t++) {
            struct kid target = spawn(size_bytes, 0);
            struct job w = {.kind = WRITEV, .pid = target.pid, .remote = target.addr, .size = size_bytes, .fd = -1};
            double t0 = now();
            w.local = mmap(NULL, size_bytes, PROT_READ, MAP_SHARED, j.fd, 0);
            if (w.local == MAP_FAILED)
                die("mmap %s", path);
            double s = now() - t0 + run_job(&w, t);
            record(wv[t - 1], s, (int)rep);
            /* untimed spot check: the first and last word of every chunk */
            for (size_t off = 0; off < size_bytes; off += CHUNK) {
                size_t end = (off + CHUNK < size_bytes ? off + CHUNK : size_bytes) - 8;
                for (size_t o = off; ; o = end) {
                    uint64_t v;
                    struct iovec l = {&v, 8}, r = {(void *)(uintptr_t)(target.addr + o), 8};
                    if (process_vm_readv(target.pid, &l, 1, &r, 1, 0) != 8)
                        die("process_vm_readv of the restored data at offset %zu", o);
                    if (v != *(const uint64_t *)(w.local + o)) {
                        errno = 0;
                        die("the restored data differs from %s at offset %zu", path, o);
                    }
                    if (o == end)
                        break;
                }
            }
            munmap((void *)w.local, size_bytes);
            reap(&target);
        }
    close(j.fd);
    remove_file();
    print(wv[0]);
    print(wv[1]);

    /* 4: fresh anonymous memory in this process */
    struct result *pop = result("populate", 1), *touch = result("touch", 1);
    for (unsigned long rep = 1; rep <= repeat; rep++) {
        double t0 = now();
        char *m = mmap(NULL, size_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            die("mmap of %lu MiB", mib);
        if (madvise(m, size_bytes, MADV_POPULATE_WRITE) < 0)
            die("madvise(MADV_POPULATE_WRITE)");
        record(pop, now() - t0, (int)rep);
        munmap(m, size_bytes);

        t0 = now();
        volatile char *v = mmap(NULL, size_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (v == MAP_FAILED)
            die("mmap of %lu MiB", mib);
        for (size_t o = 0; o < size_bytes; o += PAGE)
            v[o] = 1;
        record(touch, now() - t0, (int)rep);
        munmap((void *)v, size_bytes);
    }
    print(pop);
    print(touch);
    return 0;
}
