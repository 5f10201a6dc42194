/*
 * cryo test fixture: a parent that watches a child stopped by job control.
 *
 *   jobstop TSTP|STOP THREADS
 *
 * The child puts itself in a process group of its own (the parent is in another group of the same
 * session, so the group is not orphaned and SIGTSTP stops it), starts THREADS extra threads that
 * sleep in pause(), prints "CHILD <pid>" and stops itself with SIGTSTP or SIGSTOP (kill(getpid())).
 * When continued it prints "RESUMED <pid>", waits until the parent has seen it continued (a byte on
 * a pipe: a child that exited first would be reported as exited only) and exits 7.
 * The parent waits for it with waitpid(WUNTRACED|WCONTINUED) and prints each change:
 *     STOPPED <pid> <signal>
 *     CONTINUED <pid>
 *     EXITED <pid> <code>
 * then exits 0 once the child has ended. It reads nothing.
 *
 * Build: gcc -O1 -Wall -o jobstop jobstop.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *fmt, long a, long b) {
    char line[128];
    int n = snprintf(line, sizeof line, fmt, a, b);
    if (write(1, line, n) != n) _exit(3);   /* one write per line */
}

static void *sleeper(void *arg) {
    (void) arg;
    for (;;) pause();
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: jobstop TSTP|STOP THREADS\n");
        return 2;
    }
    int sig = strcmp(argv[1], "STOP") == 0 ? SIGSTOP : SIGTSTP;
    int threads = atoi(argv[2]);
    int seen[2];
    if (pipe(seen) != 0) return 1;
    pid_t c = fork();
    if (c < 0) return 1;
    if (c == 0) {
        setpgid(0, 0);
        for (int i = 0; i < threads; i++) {
            pthread_t t;
            if (pthread_create(&t, NULL, sleeper, NULL) != 0) _exit(4);
        }
        say("CHILD %ld%.0ld\n", getpid(), 0);
        kill(getpid(), sig);
        say("RESUMED %ld%.0ld\n", getpid(), 0);
        char b;
        while (read(seen[0], &b, 1) < 0 && errno == EINTR) {
        }
        _exit(7);
    }
    setpgid(c, c);
    for (;;) {
        int st;
        pid_t r = waitpid(c, &st, WUNTRACED | WCONTINUED);
        if (r < 0) {
            if (errno == EINTR) continue;
            say("FAIL waitpid errno %ld%.0ld\n", errno, 0);
            return 1;
        }
        if (WIFSTOPPED(st)) say("STOPPED %ld %ld\n", c, WSTOPSIG(st));
        else if (WIFCONTINUED(st)) {
            say("CONTINUED %ld%.0ld\n", c, 0);
            if (write(seen[1], "c", 1) != 1) return 1;
        }
        else if (WIFEXITED(st)) {
            say("EXITED %ld %ld\n", c, WEXITSTATUS(st));
            return 0;
        } else {
            say("KILLED %ld %ld\n", c, WTERMSIG(st));
            return 0;
        }
    }
}
