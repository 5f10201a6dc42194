/*
 * cryo test fixture: POSIX shared memory and semaphores, named and unnamed, and a process-shared mutex,
 * with a parent and a child blocked on them.
 *
 *   posix_shm PREFIX    every /dev/shm name it makes starts with PREFIX (the test removes PREFIX* after):
 *     /PREFIX-shm       shm_open'ed, 8 KiB of a pattern, fd 3 and a MAP_SHARED mapping, still named
 *     /PREFIX-shmgone   the same at fd 4, then shm_unlink'ed (a deleted /dev/shm file)
 *     /PREFIX-sem       sem_open'ed (value 0), still named
 *     /PREFIX-semgone   sem_open'ed (value 0), then sem_unlink'ed
 *     an anonymous MAP_SHARED region holding a sem_t (sem_init pshared=1, value 0), a
 *     PTHREAD_PROCESS_SHARED mutex (locked by this process) and a counter
 *   This process forks a waiter W, blocked in sem_wait(semgone); W forks C, blocked in
 *   pthread_mutex_lock(mutex); then it forks D, blocked in sem_timedwait(timed) (a second unnamed semaphore in
 *   the region) with a deadline an hour ahead, that takes EINTR as a failure. All four map all of it.
 *
 * Prints "READY <pid> <W pid> <C pid> <D pid>" once they are blocked (as far as /proc/PID/wchan tells).
 * Commands:
 *   check   the contents of both shm objects and of the region, the values of the semaphores, prints
 *           "OK check" or "FAIL <reason>"
 *   go      posts semgone and timed and unlocks the mutex; W wakes, writes "W" to shmgone, posts sem; C gets
 *           the mutex, counts, writes "C" to shm, unlocks, posts the unnamed semaphore; D writes "D" to shm;
 *           this process waits for W and C (5 s each), reaps W (which reaps C) and D, checks what they
 *           wrote and how they ended, prints "OK go" or "FAIL <reason>"
 *   quit    (or EOF) kills W and C if still there, unlinks its names, prints BYE, exits 0
 *
 * Build: gcc -O1 -Wall -pthread -o posix_shm posix_shm.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SIZE 8192

struct region {
    sem_t unnamed, timed;
    pthread_mutex_t mutex;
    int counter;
};

static char nShm[256], nShmGone[256], nSem[256], nSemGone[256];
static char *shm, *shmGone;
static sem_t *sem, *semGone;
static struct region *r;
static pid_t w, c, d;
static char fail[1024];

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond) && !fail[0]) snprintf(fail, sizeof fail, __VA_ARGS__); \
    } while (0)

static void must(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "posix_shm: %s: %s\n", what, strerror(errno));
        exit(2);
    }
}

static char pattern(int i, int which) {
    return (char) ('a' + (i * 7 + which) % 26);
}

static char *makeShm(const char *name, int fd, int which) {
    int f = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    must(f >= 0, name);
    must(ftruncate(f, SIZE) == 0, "ftruncate");
    if (f != fd) {
        must(dup2(f, fd) == fd, "dup2");
        close(f);
    }
    char *m = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    must(m != MAP_FAILED, "mmap");
    for (int i = 0; i < SIZE; i++) m[i] = pattern(i, which);
    return m;
}

/* True once pid sleeps in a futex wait (its wchan names a futex function). */
static int blockedInFutex(pid_t pid) {
    char path[64], buf[128] = "";
    snprintf(path, sizeof path, "/proc/%d/wchan", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
    fclose(f);
    return strstr(buf, "futex") != NULL;
}

static void waitBlocked(pid_t pid) {
    for (int i = 0; i < 10000 && !blockedInFutex(pid); i++) usleep(1000);
}

static int semValue(sem_t *s) {
    int v = -1;
    sem_getvalue(s, &v);
    return v;
}

static int timedWait(sem_t *s) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += 5;
    int rc;
    while ((rc = sem_timedwait(s, &t)) != 0 && errno == EINTR) {}
    return rc;
}

static void childC(void) {
    int rc = pthread_mutex_lock(&r->mutex);
    if (rc != 0) _exit(10 + rc);
    r->counter++;
    shm[1] = 'C';
    pthread_mutex_unlock(&r->mutex);
    sem_post(&r->unnamed);
    _exit(0);
}

static void timedD(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += 3600;
    if (sem_timedwait(&r->timed, &t) != 0) _exit(30 + errno);
    shm[2] = 'D';
    _exit(0);
}

static void waiterW(void) {
    c = fork();
    must(c >= 0, "fork");
    if (c == 0) childC();
    int rc;
    while ((rc = sem_wait(semGone)) != 0 && errno == EINTR) {}
    if (rc != 0) _exit(20);
    shmGone[1] = 'W';
    sem_post(sem);
    int st;
    if (waitpid(c, &st, 0) != c) _exit(21);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 22);
}

static void check(void) {
    for (int i = 3; i < SIZE; i++) {
        CHECK(shm[i] == pattern(i, 0), "shm byte %d is %d", i, shm[i]);
        CHECK(shmGone[i] == pattern(i, 1), "shmgone byte %d is %d", i, shmGone[i]);
    }
    struct stat st;
    CHECK(fstat(3, &st) == 0 && st.st_size == SIZE && st.st_nlink == 1, "fd 3 of %s: size %ld nlink %ld", nShm, (long) st.st_size, (long) st.st_nlink);
    CHECK(fstat(4, &st) == 0 && st.st_size == SIZE && st.st_nlink == 0, "fd 4 (unlinked shm): size %ld nlink %ld", (long) st.st_size, (long) st.st_nlink);
    char path[300];
    snprintf(path, sizeof path, "/dev/shm%s", nShm);
    CHECK(access(path, F_OK) == 0, "%s is gone", path);
    snprintf(path, sizeof path, "/dev/shm/sem.%s", nSem + 1);
    CHECK(access(path, F_OK) == 0, "%s is gone", path);
    snprintf(path, sizeof path, "/dev/shm%s", nShmGone);
    CHECK(access(path, F_OK) != 0, "%s is back", path);
    snprintf(path, sizeof path, "/dev/shm/sem.%s", nSemGone + 1);
    CHECK(access(path, F_OK) != 0, "%s is back", path);
    CHECK(semValue(sem) == 0 && semValue(semGone) == 0 && semValue(&r->unnamed) == 0 && semValue(&r->timed) == 0,
          "semaphore values %d %d %d %d", semValue(sem), semValue(semGone), semValue(&r->unnamed), semValue(&r->timed));
    CHECK(r->counter == 0, "counter %d", r->counter);
    /* shm[0] is written by this process through the mapping and read back through fd 3: one object */
    shm[0] = 'x';
    char b = 0;
    CHECK(pread(3, &b, 1, 0) == 1 && b == 'x', "the mapping of fd 3's object is not fd 3's object");
    shmGone[0] = 'y';
    CHECK(pread(4, &b, 1, 0) == 1 && b == 'y', "the mapping of fd 4's object is not fd 4's object");
}

static void go(void) {
    must(sem_post(semGone) == 0, "sem_post");
    must(pthread_mutex_unlock(&r->mutex) == 0, "pthread_mutex_unlock");
    must(sem_post(&r->timed) == 0, "sem_post");
    CHECK(timedWait(sem) == 0, "W did not post %s: %s", nSem, strerror(errno));
    CHECK(timedWait(&r->unnamed) == 0, "C did not post the unnamed semaphore: %s", strerror(errno));
    if (fail[0]) return;
    int st;
    CHECK(waitpid(w, &st, 0) == w && WIFEXITED(st) && WEXITSTATUS(st) == 0, "W ended with status %#x", st);
    w = c = 0;
    CHECK(waitpid(d, &st, 0) == d && WIFEXITED(st) && WEXITSTATUS(st) == 0, "D ended with status %#x (exit 34: sem_timedwait failed with EINTR)", st);
    d = 0;
    CHECK(shm[2] == 'D', "D's write to the shm is not seen: %d", shm[2]);
    CHECK(shmGone[1] == 'W', "W's write to the unlinked shm is not seen: %d", shmGone[1]);
    CHECK(shm[1] == 'C', "C's write to the shm is not seen: %d", shm[1]);
    CHECK(r->counter == 1, "counter %d", r->counter);
    CHECK(pthread_mutex_lock(&r->mutex) == 0, "the mutex");
    pthread_mutex_unlock(&r->mutex);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: posix_shm PREFIX\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    snprintf(nShm, sizeof nShm, "/%s-shm", argv[1]);
    snprintf(nShmGone, sizeof nShmGone, "/%s-shmgone", argv[1]);
    snprintf(nSem, sizeof nSem, "/%s-sem", argv[1]);
    snprintf(nSemGone, sizeof nSemGone, "/%s-semgone", argv[1]);
    shm = makeShm(nShm, 3, 0);
    shmGone = makeShm(nShmGone, 4, 1);
    must(shm_unlink(nShmGone) == 0, "shm_unlink");
    sem = sem_open(nSem, O_CREAT | O_EXCL, 0600, 0);
    must(sem != SEM_FAILED, "sem_open");
    semGone = sem_open(nSemGone, O_CREAT | O_EXCL, 0600, 0);
    must(semGone != SEM_FAILED, "sem_open");
    must(sem_unlink(nSemGone) == 0, "sem_unlink");
    r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    must(r != MAP_FAILED, "mmap");
    must(sem_init(&r->unnamed, 1, 0) == 0 && sem_init(&r->timed, 1, 0) == 0, "sem_init");
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    must(pthread_mutex_init(&r->mutex, &a) == 0, "pthread_mutex_init");
    must(pthread_mutex_lock(&r->mutex) == 0, "pthread_mutex_lock");
    w = fork();
    must(w >= 0, "fork");
    if (w == 0) waiterW();
    /* C's pid: W's only child */
    char path[64], buf[64] = "";
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", w, w);
    for (int i = 0; i < 10000 && !buf[0]; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
            fclose(f);
        }
        if (!buf[0]) usleep(1000);
    }
    c = atoi(buf);
    must(c > 0, "the pid of C");
    d = fork();
    must(d >= 0, "fork");
    if (d == 0) timedD();
    waitBlocked(w);
    waitBlocked(c);
    waitBlocked(d);
    printf("READY %d %d %d %d\n", getpid(), w, c, d);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        fail[0] = 0;
        if (!strcmp(line, "check\n")) {
            check();
            printf(fail[0] ? "FAIL %s\n" : "OK check\n", fail);
        } else if (!strcmp(line, "go\n")) {
            go();
            printf(fail[0] ? "FAIL %s\n" : "OK go\n", fail);
        } else if (!strcmp(line, "quit\n")) {
            break;
        }
    }
    if (c > 0) kill(c, SIGKILL);
    if (d > 0) {
        kill(d, SIGKILL);
        waitpid(d, NULL, 0);
    }
    if (w > 0) {
        kill(w, SIGKILL);
        waitpid(w, NULL, 0);
    }
    shm_unlink(nShm);
    sem_unlink(nSem);
    printf("BYE\n");
    return 0;
}
