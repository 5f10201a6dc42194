/*
 * cryo test fixture: a parent holding four unreaped children (zombies).
 *
 *   zombies [pending]
 *
 * The parent installs a SIGCHLD handler that counts signals, forks four
 * children that end with _exit(0), _exit(42), SIGKILL and SIGSEGV (no core
 * dump: the child makes itself non-dumpable), waits until all four are zombies
 * (state Z in /proc/PID/stat) without reaping them, lets the pending signals be
 * handled, and prints
 *     READY <sigchld count> <pid0> <pid1> <pid2> <pid3>
 * With "pending", SIGCHLD is blocked (sigprocmask) before the last child is
 * forked, so that child's SIGCHLD stays pending: READY is then followed by
 * nothing else but the line says so: "READY <count> <pids...> pending".
 *
 * Commands on stdin:
 *   count    prints "COUNT <n> pending=<0|1> blocked=<0|1>" (SIGCHLD pending/blocked)
 *   unblock  unblocks SIGCHLD, lets a pending signal be handled, prints COUNT
 *   states   prints "STATE <pid> <state char from /proc/PID/stat> <ppid>" for each child
 *   reap     waitpid(pid, WNOHANG) for each child in order and prints
 *              "REAPED <pid> status=<raw> exited=<0|1> code=<n> signaled=<0|1> sig=<n>"
 *            or "FAIL <pid> <why>" (not a zombie / not our child), then COUNT
 *   quit     exits 0
 *   EOF on stdin: exits 0.
 *
 * Build: gcc -O1 -Wall -o zombies zombies.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t sigchld_count;
static pid_t kids[4];

static void on_sigchld(int sig) {
    (void)sig;
    sigchld_count++;
}

static void msleep(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* state and ppid of pid from /proc, '?' if unreadable */
static char proc_state(pid_t pid, int *ppid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ') return '?';
    char st = p[2];
    if (ppid) *ppid = atoi(p + 4);
    return st;
}

static void await_zombie(pid_t pid) {
    for (int i = 0; i < 10000; i++) {
        if (proc_state(pid, NULL) == 'Z') return;
        msleep(1);
    }
    printf("FAIL %d never became a zombie\n", (int)pid);
    fflush(stdout);
    exit(2);
}

static pid_t child(int how) {
    pid_t p = fork();
    if (p < 0) {
        perror("fork");
        exit(2);
    }
    if (p > 0) return p;
    signal(SIGCHLD, SIG_DFL);
    switch (how) {
    case 0:
        _exit(0);
    case 1:
        _exit(42);
    case 2:
        kill(getpid(), SIGKILL);
        break;
    case 3: {
        struct rlimit no = {0, 0};
        setrlimit(RLIMIT_CORE, &no);
        prctl(PR_SET_DUMPABLE, 0);
        signal(SIGSEGV, SIG_DFL);
        *(volatile int *)0 = 1;
        break;
    }
    }
    _exit(99);
}

static int sigchld_state(int *blocked) {
    sigset_t pend, mask;
    sigpending(&pend);
    sigprocmask(SIG_BLOCK, NULL, &mask);
    *blocked = sigismember(&mask, SIGCHLD);
    return sigismember(&pend, SIGCHLD);
}

static void print_count(void) {
    int blocked, pending = sigchld_state(&blocked);
    printf("COUNT %d pending=%d blocked=%d\n", (int)sigchld_count, pending, blocked);
}

int main(int argc, char **argv) {
    int pending_mode = argc > 1 && strcmp(argv[1], "pending") == 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);

    for (int i = 0; i < 3; i++) {
        kids[i] = child(i);
        await_zombie(kids[i]);
    }
    msleep(20); /* every SIGCHLD so far has been handled */
    if (pending_mode) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGCHLD);
        sigprocmask(SIG_BLOCK, &s, NULL);
    }
    kids[3] = child(3);
    await_zombie(kids[3]);
    msleep(20);
    int blocked, pending = sigchld_state(&blocked);
    if (pending_mode && !pending) {
        printf("FAIL SIGCHLD is not pending\n");
        return 2;
    }
    printf("READY %d %d %d %d %d%s\n", (int)sigchld_count, kids[0], kids[1], kids[2], kids[3],
           pending_mode ? " pending" : "");
    fflush(stdout);

    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        if (strcmp(line, "count") == 0) {
            print_count();
        } else if (strcmp(line, "unblock") == 0) {
            sigset_t s;
            sigemptyset(&s);
            sigaddset(&s, SIGCHLD);
            sigprocmask(SIG_UNBLOCK, &s, NULL); /* a pending SIGCHLD is handled on return */
            msleep(20);
            print_count();
        } else if (strcmp(line, "states") == 0) {
            for (int i = 0; i < 4; i++) {
                int ppid = -1;
                char st = proc_state(kids[i], &ppid);
                printf("STATE %d %c %d\n", (int)kids[i], st, ppid);
            }
        } else if (strcmp(line, "reap") == 0) {
            for (int i = 0; i < 4; i++) {
                int st = 0;
                pid_t r = waitpid(kids[i], &st, WNOHANG);
                if (r == kids[i])
                    printf("REAPED %d status=%d exited=%d code=%d signaled=%d sig=%d\n", (int)r, st, WIFEXITED(st) ? 1 : 0,
                           WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? 1 : 0, WIFSIGNALED(st) ? WTERMSIG(st) : -1);
                else if (r == 0)
                    printf("FAIL %d is not a zombie yet\n", (int)kids[i]);
                else
                    printf("FAIL %d waitpid: %s\n", (int)kids[i], strerror(errno));
            }
            msleep(20);
            print_count();
        } else if (strcmp(line, "quit") == 0) {
            break;
        } else if (line[0]) {
            printf("unknown command '%s'\n", line);
        }
        fflush(stdout);
    }
    return 0;
}
