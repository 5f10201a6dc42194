/*
 * cryo test fixture: a tree that never stops changing, for checkpoints that race with it.
 *
 *   root ─┬─ threads: "threads" (creates and joins short-lived threads), "maps" (mmap, mprotect, mremap,
 *         │  munmap in a loop), "forks" (forks children that exit at once, exec and exit, or run a little;
 *         │  reaps them: a child forked by a thread), "reader" (counts the bytes E writes)
 *         ├─ S ── S1   (stable: each counts; S is a subtree another checkpoint may take)
 *         └─ E         (execs itself from a non-leader thread over and over: de_thread changes the thread
 *                       that is the leader; writes one byte to the root per generation)
 *
 * Every worker counts in a MAP_SHARED|MAP_ANONYMOUS page made before the first fork. The root also keeps a
 * 1 MiB pattern and a 64 KiB region the "maps" thread checks on every turn.
 *
 * Argument "quiet": no churn (no threads, forks or execs beyond S, S1 and E asleep): the tree for tests of
 * two checkpoints at once.
 *
 * Protocol (root's stdin/stdout):
 *   first "PIDS <root> <S> <S1> <E>" then "READY <root>"
 *   check   every counter moves on (within 20 s), patterns intact: "FAIL <what>" lines then "OK"
 *   quit / EOF: SIGKILL to S, S1, E, then exit 0
 *
 * Build: gcc -O1 -Wall -o churn churn.c -lpthread
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { C_THREADS, C_MAPS, C_FORKS, C_EXECS, C_S, C_S1, C_N };
static const char *NAME[C_N] = {"threads", "maps", "forks", "execs", "S", "S1"};

struct shared {
    volatile long count[C_N];
    volatile int fail;
    char why[200];
};
static struct shared *sh;
static char self[4096];
#define BIG (1 << 20)
static unsigned char *big;
static unsigned char *keep;    /* 64 KiB the maps thread checks */

static void failed(const char *what) {
    if (!sh->fail) snprintf(sh->why, sizeof sh->why, "%s", what);
    sh->fail = 1;
}

static void pause_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static void *short_thread(void *arg) {
    (void) arg;
    return NULL;
}

static void *threads_loop(void *arg) {
    (void) arg;
    for (;;) {
        pthread_t t[3];
        for (int i = 0; i < 3; i++)
            if (pthread_create(&t[i], NULL, short_thread, NULL) != 0) failed("pthread_create");
        for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
        sh->count[C_THREADS]++;
        pause_us(200);
    }
    return NULL;
}

static void *maps_loop(void *arg) {
    (void) arg;
    for (unsigned long n = 0;; n++) {
        size_t len = 16 * 4096;
        unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) { failed("mmap"); continue; }
        memset(p, (int) (n & 0xff), len);
        if (mprotect(p, len, PROT_READ) < 0) failed("mprotect");
        unsigned char *q = mremap(p, len, 2 * len, MREMAP_MAYMOVE);
        if (q == MAP_FAILED) { failed("mremap"); munmap(p, len); continue; }
        for (size_t i = 0; i < len; i += 4096)
            if (q[i] != (unsigned char) (n & 0xff)) failed("a page moved by mremap lost its contents");
        if (munmap(q, 2 * len) < 0) failed("munmap");
        for (size_t i = 0; i < 65536; i += 512)
            if (keep[i] != (unsigned char) (i / 512)) failed("the kept region changed");
        sh->count[C_MAPS]++;
        pause_us(200);
    }
    return NULL;
}

static void *forks_loop(void *arg) {
    (void) arg;
    for (unsigned long n = 0;; n++) {
        pid_t pid = fork();
        if (pid < 0) { failed("fork"); pause_us(1000); continue; }
        if (pid == 0) {
            switch (n % 3) {
                case 0: _exit(7);
                case 1: execl(self, "churn", "exit7", (char *) NULL); _exit(99);
                default: pause_us(500); _exit(7);
            }
        }
        int st;
        while (waitpid(pid, &st, 0) < 0)
            if (errno != EINTR) { failed("waitpid"); break; }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 7) failed("a forked child did not exit 7");
        sh->count[C_FORKS]++;
        pause_us(200);
    }
    return NULL;
}

static int execs_in;
static void *reader_loop(void *arg) {
    (void) arg;
    char buf[64];
    for (;;) {
        ssize_t n = read(execs_in, buf, sizeof buf);
        if (n > 0) sh->count[C_EXECS] += n;
        else if (n == 0 || errno != EINTR) { failed("the pipe from E ended"); return NULL; }
    }
}

static void counter(int which) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (;;) {
        sh->count[which]++;
        pause_us(1000);
    }
}

/* E, generation gen: a few threads come and go, then one of them (not the leader) execs the next. */
static int execs_out;
static void *exec_thread(void *arg) {
    (void) arg;
    pause_us(2000);
    char fd[16];
    snprintf(fd, sizeof fd, "%d", execs_out);
    execl(self, "churn", "exec", fd, (char *) NULL);
    return NULL;
}

static void *idle_thread(void *arg) {
    (void) arg;
    for (;;) pause_us(1000);
    return NULL;
}

static int exec_generation(int out) {
    execs_out = out;
    if (write(out, "x", 1) != 1) return 1;
    pthread_t t;
    pthread_create(&t, NULL, idle_thread, NULL);
    pthread_create(&t, NULL, exec_thread, NULL);
    for (;;) pause_us(1000000);
}

static void *shared_page(void) {
    void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(1); }
    return p;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "exit7") == 0) return 7;
    ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
    if (l < 0) { perror("readlink"); return 1; }
    self[l] = 0;
    if (argc > 2 && strcmp(argv[1], "exec") == 0) return exec_generation(atoi(argv[2]));
    int quiet = argc > 1 && strcmp(argv[1], "quiet") == 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    sh = shared_page();
    big = malloc(BIG);
    keep = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < BIG; i++) big[i] = (unsigned char) (i * 7 + 3);
    for (int i = 0; i < 65536; i++) keep[i] = (unsigned char) (i / 512);
    int p[2];
    if (pipe(p) < 0) { perror("pipe"); return 1; }
    execs_in = p[0];
    pid_t s = fork();
    if (s == 0) {
        close(p[0]); close(p[1]);
        if (fork() == 0) counter(C_S1);
        counter(C_S);
    }
    pid_t e = fork();
    if (e == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(p[0]);
        if (quiet) { for (;;) pause(); }
        char fd[16];
        snprintf(fd, sizeof fd, "%d", p[1]);
        execl(self, "churn", "exec", fd, (char *) NULL);
        _exit(99);
    }
    close(p[1]);
    /* S1's pid: S's only child */
    pid_t s1 = 0;
    char path[64], buf[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", s, s);
    for (int i = 0; i < 10000 && s1 == 0; i++) {
        FILE *f = fopen(path, "r");
        if (f && fgets(buf, sizeof buf, f)) s1 = atoi(buf);
        if (f) fclose(f);
        if (s1 == 0) pause_us(1000);
    }
    pthread_t t;
    if (!quiet) {
        pthread_create(&t, NULL, threads_loop, NULL);
        pthread_create(&t, NULL, maps_loop, NULL);
        pthread_create(&t, NULL, forks_loop, NULL);
        pthread_create(&t, NULL, reader_loop, NULL);
    }
    printf("PIDS %d %d %d %d\n", getpid(), s, s1, e);
    printf("READY %d\n", getpid());
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "check", 5) == 0) {
            long before[C_N];
            for (int i = 0; i < C_N; i++) before[i] = sh->count[i];
            for (int i = 0; i < BIG; i += 999)
                if (big[i] != (unsigned char) (i * 7 + 3)) { printf("FAIL the 1 MiB pattern changed at %d\n", i); break; }
            for (int i = 0; i < C_N; i++) {
                if (quiet && i != C_S && i != C_S1) continue;
                int waited = 0;
                while (sh->count[i] == before[i] && waited < 20000) { pause_us(1000); waited++; }
                if (sh->count[i] == before[i]) printf("FAIL %s stands still at %ld\n", NAME[i], before[i]);
            }
            if (sh->fail) printf("FAIL %s\n", sh->why);
            printf("OK\n");
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        }
    }
    kill(s1, SIGKILL);
    kill(s, SIGKILL);
    kill(e, SIGKILL);
    return 0;
}
