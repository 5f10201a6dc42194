/*
 * cryo test fixture: a three-level process tree that verifies itself.
 *
 *   root ─┬─ A  (2 pthreads) ── A1  (setpgid(0,0): its own process group)
 *         └─ B  (setsid(): a second session) ── B1 (3 pthreads)
 *
 * Every process fills a malloc'ed buffer (1 MiB, so mmap'ed) and a small one
 * (brk heap) with a pattern of its own (a child rewrites the buffers it
 * inherited, so the pages differ per process), records its pid, ppid, pgid, sid
 * and thread count at start, and each thread keeps a counter and its tid.
 *
 * The processes talk only through one MAP_SHARED|MAP_ANONYMOUS page created by
 * the root before the first fork (no pipes, no other fds: only 0-2, inherited).
 *
 * Protocol (root's stdin/stdout; the other processes never touch 0-2):
 *   when the whole tree is up the root prints
 *     PROC <role> <pid> <ppid> <pgid> <sid> <threads> <tid,tid,...>   (one per process)
 *     READY <rootpid> <Apid> <A1pid> <Bpid> <B1pid>
 *   check   every process verifies itself (pid, ppid, pgid, sid, thread count
 *           and tids via /proc/self/task, both patterns, thread counters still
 *           advancing, each thread's gettid()); the root prints
 *           "FAIL <pid> <what>" lines then "FAILED <n>", or "OK"
 *           (the root's own ppid is not checked: after a restart it is cryo)
 *   ppid    prints "PPID <root's ppid>"
 *   quit    every process exits 0 after its children; each parent waitpid()s
 *           its children and checks they exited 0; the root prints
 *           "BYE <status A> <status B>" and exits 0 if all is well, else 1
 *   EOF on stdin: as quit.
 *
 * Build: gcc -O1 -Wall -o tree tree.c -lpthread
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { ROOT, A, A1, B, B1, NPROC };
static const char *ROLE[NPROC] = {"root", "A", "A1", "B", "B1"};
static const int NTHREADS[NPROC] = {0, 2, 0, 0, 3};
#define MAXT 4
#define BIG (1 << 20)
#define SMALL 4096

struct slot {
    volatile int pid, ppid, pgid, sid, threads;
    volatile int tids[MAXT + 1];
    volatile int up;        /* set when the process is fully set up */
    volatile int done_gen;  /* the last check generation answered */
    volatile int failed;    /* failures in that check */
    volatile int exited;    /* quit: set before _exit */
    char fail[512];         /* "; "-separated failure texts */
};

struct shared {
    volatile int gen;  /* incremented by the root to ask for a check */
    volatile int quit;
    struct slot s[NPROC];
};

static struct shared *sh;
static int role;
static uint32_t seed;
static uint32_t *big;
static uint32_t *small;
/* what this process saw at start (in private memory) */
static int my_pid, my_ppid, my_pgid, my_sid;

struct thr {
    volatile uint64_t count;
    volatile int tid;
    volatile int bad; /* gettid() changed */
    pthread_t t;
};
static struct thr thr[MAXT];
static int nthr;

static void msleep(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static uint32_t pat(uint32_t i) {
    uint32_t x = i * 2654435761u ^ seed;
    x ^= x >> 13;
    return x * 0x5bd1e995u + seed;
}

static void fill(void) {
    seed = 0x9e3779b9u * (uint32_t)(role + 1) + (uint32_t)getpid();
    for (uint32_t i = 0; i < BIG / 4; i++) big[i] = pat(i);
    for (uint32_t i = 0; i < SMALL / 4; i++) small[i] = ~pat(i);
}

static void *thread_main(void *arg) {
    struct thr *t = arg;
    t->tid = (int)syscall(SYS_gettid);
    for (;;) {
        t->count++;
        if ((int)syscall(SYS_gettid) != t->tid) t->bad = 1;
        msleep(2);
    }
    return NULL;
}

static void fail(struct slot *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct slot *s, const char *fmt, ...) {
    size_t len = strlen(s->fail);
    if (len > 0 && len < sizeof s->fail - 3) {
        strcat(s->fail, "; ");
        len += 2;
    }
    if (len < sizeof s->fail - 1) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->fail + len, sizeof s->fail - len, fmt, ap);
        va_end(ap);
    }
    s->failed++;
}

static int count_tasks(int *tids, int max) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (n < max) tids[n] = atoi(e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static int has_tid(const int *tids, int n, int tid) {
    for (int i = 0; i < n; i++)
        if (tids[i] == tid) return 1;
    return 0;
}

/* The self-check of one process; results go to its slot. */
static void verify(void) {
    struct slot *s = &sh->s[role];
    s->fail[0] = 0;
    s->failed = 0;
    int pid = getpid();
    if (pid != my_pid) fail(s, "pid is %d, was %d", pid, my_pid);
    if (role != ROOT && getppid() != my_ppid) fail(s, "ppid is %d, was %d", getppid(), my_ppid);
    if (getpgrp() != my_pgid) fail(s, "pgid is %d, was %d", getpgrp(), my_pgid);
    if (getsid(0) != my_sid) fail(s, "sid is %d, was %d", getsid(0), my_sid);
    /* the structure itself */
    if (role == A1 && getpgrp() != pid) fail(s, "A1 is not its own process group leader (pgid %d)", getpgrp());
    if (role == B && (getsid(0) != pid || getpgrp() != pid)) fail(s, "B is not a session leader (sid %d pgid %d)", getsid(0), getpgrp());
    if (role == B1 && (getsid(0) != sh->s[B].pid || getpgrp() != sh->s[B].pid))
        fail(s, "B1 is not in B's session and group (sid %d pgid %d, B %d)", getsid(0), getpgrp(), sh->s[B].pid);
    if ((role == A || role == B) && getppid() != sh->s[ROOT].pid) fail(s, "parent is %d, not the root %d", getppid(), sh->s[ROOT].pid);
    if (role == A1 && getppid() != sh->s[A].pid) fail(s, "parent is %d, not A %d", getppid(), sh->s[A].pid);
    if (role == B1 && getppid() != sh->s[B].pid) fail(s, "parent is %d, not B %d", getppid(), sh->s[B].pid);
    /* threads */
    int tids[64];
    int n = count_tasks(tids, 64);
    if (n != 1 + nthr) fail(s, "%d threads in /proc/self/task, expected %d", n, 1 + nthr);
    if (!has_tid(tids, n < 64 ? n : 64, pid)) fail(s, "leader %d missing from /proc/self/task", pid);
    for (int i = 0; i < nthr; i++) {
        if (!has_tid(tids, n < 64 ? n : 64, thr[i].tid)) fail(s, "thread %d (tid %d) missing from /proc/self/task", i, thr[i].tid);
        if (thr[i].bad) fail(s, "thread %d: gettid() is no longer %d", i, thr[i].tid);
    }
    /* memory */
    for (uint32_t i = 0; i < BIG / 4; i++)
        if (big[i] != pat(i)) {
            fail(s, "big buffer differs at word %u: 0x%08x, expected 0x%08x", i, big[i], pat(i));
            break;
        }
    for (uint32_t i = 0; i < SMALL / 4; i++)
        if (small[i] != ~pat(i)) {
            fail(s, "small buffer differs at word %u: 0x%08x, expected 0x%08x", i, small[i], ~pat(i));
            break;
        }
    /* thread counters advance */
    uint64_t before[MAXT];
    for (int i = 0; i < nthr; i++) before[i] = thr[i].count;
    for (int round = 0; round < 50; round++) {
        int all = 1;
        for (int i = 0; i < nthr; i++)
            if (thr[i].count == before[i]) all = 0;
        if (all) break;
        msleep(10);
    }
    for (int i = 0; i < nthr; i++)
        if (thr[i].count == before[i]) fail(s, "thread %d (tid %d): counter stuck at %llu", i, thr[i].tid, (unsigned long long)before[i]);
}

static void record_start(void) {
    struct slot *s = &sh->s[role];
    my_pid = getpid();
    my_ppid = getppid();
    my_pgid = getpgrp();
    my_sid = getsid(0);
    fill();
    for (int i = 0; i < NTHREADS[role]; i++) {
        if (pthread_create(&thr[i].t, NULL, thread_main, &thr[i]) != 0) {
            perror("pthread_create");
            _exit(3);
        }
    }
    nthr = NTHREADS[role];
    for (int i = 0; i < nthr; i++)
        while (thr[i].tid == 0) msleep(1);
    s->pid = my_pid;
    s->ppid = my_ppid;
    s->pgid = my_pgid;
    s->sid = my_sid;
    s->threads = 1 + nthr;
    s->tids[0] = my_pid;
    for (int i = 0; i < nthr; i++) s->tids[i + 1] = thr[i].tid;
    __atomic_store_n(&s->up, 1, __ATOMIC_SEQ_CST);
}

static int wait_child(pid_t child) {
    int st;
    pid_t r;
    while ((r = waitpid(child, &st, 0)) < 0 && errno == EINTR) {
    }
    if (r != child) return -1;
    return st;
}

/* Body of every non-root process: answer checks until quit. */
static void serve(pid_t child) {
    int seen = sh->gen;
    for (;;) {
        int g = __atomic_load_n(&sh->gen, __ATOMIC_SEQ_CST);
        if (g != seen) {
            verify();
            seen = g;
            __atomic_store_n(&sh->s[role].done_gen, g, __ATOMIC_SEQ_CST);
        }
        if (sh->quit) break;
        msleep(5);
    }
    int ok = 1;
    if (child > 0) {
        int st = wait_child(child);
        ok = st == 0;
    }
    sh->s[role].exited = 1;
    _exit(ok ? 0 : 1);
}

static pid_t spawn(int r, void (*body)(void)) {
    pid_t p = fork();
    if (p < 0) {
        perror("fork");
        exit(2);
    }
    if (p == 0) {
        role = r;
        body();
        _exit(0);
    }
    return p;
}

static void body_a1(void) {
    if (setpgid(0, 0) != 0) _exit(4);
    record_start();
    serve(0);
}

static void body_a(void) {
    record_start(); /* threads first: A1 is forked by a multi-threaded process */
    pid_t a1 = spawn(A1, body_a1);
    setpgid(a1, a1); /* also from the parent: no race with A1's own call */
    serve(a1);
}

static void body_b1(void) {
    record_start();
    serve(0);
}

static void body_b(void) {
    if (setsid() < 0) _exit(5);
    record_start();
    pid_t b1 = spawn(B1, body_b1);
    serve(b1);
}

static int check_all(void) {
    int g = __atomic_add_fetch(&sh->gen, 1, __ATOMIC_SEQ_CST);
    verify();
    sh->s[ROOT].done_gen = g;
    int failures = 0;
    for (int r = 0; r < NPROC; r++) {
        struct slot *s = &sh->s[r];
        int waited = 0;
        while (__atomic_load_n(&s->done_gen, __ATOMIC_SEQ_CST) != g && waited < 20000) {
            msleep(5);
            waited += 5;
        }
        if (s->done_gen != g) {
            printf("FAIL %d %s did not answer the check\n", s->pid, ROLE[r]);
            failures++;
        } else if (s->failed) {
            printf("FAIL %d %s: %s\n", s->pid, ROLE[r], s->fail);
            failures++;
        }
    }
    if (failures) printf("FAILED %d\n", failures);
    else printf("OK\n");
    fflush(stdout);
    return failures;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    memset(sh, 0, sizeof *sh);
    big = malloc(BIG);
    small = malloc(SMALL);
    if (!big || !small) return 2;
    role = ROOT;
    record_start();
    pid_t a = spawn(A, body_a);
    pid_t b = spawn(B, body_b);
    for (int r = 0; r < NPROC; r++) {
        int waited = 0;
        while (!__atomic_load_n(&sh->s[r].up, __ATOMIC_SEQ_CST)) {
            if ((waited += 2) > 20000) {
                printf("FAIL %s never came up\n", ROLE[r]);
                return 2;
            }
            msleep(2);
        }
    }
    for (int r = 0; r < NPROC; r++) {
        struct slot *s = &sh->s[r];
        printf("PROC %s %d %d %d %d %d ", ROLE[r], s->pid, s->ppid, s->pgid, s->sid, s->threads);
        for (int i = 0; i < s->threads; i++) printf("%s%d", i ? "," : "", s->tids[i]);
        printf("\n");
    }
    printf("READY %d %d %d %d %d\n", sh->s[ROOT].pid, sh->s[A].pid, sh->s[A1].pid, sh->s[B].pid, sh->s[B1].pid);
    fflush(stdout);

    char line[256];
    int failures = 0;
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        if (strcmp(line, "check") == 0) failures += check_all() != 0;
        else if (strcmp(line, "ppid") == 0) printf("PPID %d\n", getppid());
        else if (strcmp(line, "quit") == 0) break;
        else if (line[0]) printf("unknown command '%s'\n", line);
        fflush(stdout);
    }
    sh->quit = 1;
    int sa = wait_child(a), sb = wait_child(b);
    printf("BYE %d %d\n", sa, sb);
    fflush(stdout);
    return failures == 0 && sa == 0 && sb == 0 ? 0 : 1;
}
