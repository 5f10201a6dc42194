/*
 * cryo test fixture: a parent and a child writing fixed-size records through one
 * shared open file description (shared offset, no O_APPEND).
 *
 *   shared_fd FILE
 *
 * The parent opens FILE O_WRONLY|O_CREAT|O_TRUNC as fd 3 (no O_APPEND: the
 * offset is the only thing that keeps records apart), dup()s it to fd 4, and
 * forks a child (which inherits both fds). Both loop writing 32-byte records through the one description
 * and sleep ~2 ms between records:
 *   parent: "P nnnnnnn fdX" (alternately through fd 3 and fd 4)
 *   child:  "C nnnnnnn fd3"
 * padded with spaces to 31 bytes plus '\n'; nnnnnnn counts from 1 per writer.
 * If the description were split in two after a restart, the two writers would
 * overwrite each other's records: a sequence gap in P or C.
 *
 * Prints "READY <parent pid> <child pid>". Commands on the parent's stdin
 * (polled between records):
 *   shared   kcmp(KCMP_FILE) of parent fd 3 / fd 4 / child fd 3 / fd 4: prints
 *            "SHARED <parent3==parent4> <parent3==child3> <parent3==child4>"
 *            (1 = same description, 0 = not, -1 = kcmp failed)
 *   count    prints "COUNT <parent records written> <offset of fd 3>"
 *   quit     SIGTERMs the child, waits for it, prints "BYE <child status>" and exits 0
 *   EOF on stdin: as quit.
 *
 * Build: gcc -O1 -Wall -o shared_fd shared_fd.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REC 32
#ifndef KCMP_FILE
#define KCMP_FILE 0
#endif

static void record(int fd, char who, long n, int via) {
    char buf[REC + 1];
    int len = snprintf(buf, sizeof buf, "%c %07ld fd%d", who, n, via);
    memset(buf + len, ' ', REC - 1 - len);
    buf[REC - 1] = '\n';
    ssize_t w;
    while ((w = write(fd, buf, REC)) < 0 && errno == EINTR) {
    }
    if (w != REC) {
        fprintf(stderr, "%c: write returned %zd: %s\n", who, w, w < 0 ? strerror(errno) : "short");
        _exit(3);
    }
}

static volatile sig_atomic_t stop;

static void on_term(int sig) {
    (void)sig;
    stop = 1;
}

static int kcmp_file(pid_t p1, pid_t p2, int fd1, int fd2) {
    long r = syscall(SYS_kcmp, p1, p2, KCMP_FILE, fd1, fd2);
    return r < 0 ? -1 : r == 0 ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: shared_fd FILE\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(argv[1]);
        return 2;
    }
    if (fd != 3) {
        if (dup2(fd, 3) < 0) return 2;
        close(fd);
    }
    if (dup2(3, 4) != 4) return 2;

    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 2;
    }
    if (child == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_term;
        sigaction(SIGTERM, &sa, NULL);
        long n = 0;
        while (!stop) {
            record(3, 'C', ++n, 3);
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
        _exit(0);
    }

    printf("READY %d %d\n", getpid(), child);
    long n = 0;
    char line[256];
    size_t have = 0;
    for (;;) {
        n++;
        record(n % 2 ? 3 : 4, 'P', n, n % 2 ? 3 : 4);
        struct pollfd p = {0, POLLIN, 0};
        int r = poll(&p, 1, 2);
        if (r <= 0 || !(p.revents & (POLLIN | POLLHUP))) continue;
        ssize_t got = read(0, line + have, sizeof line - 1 - have);
        if (got <= 0) break; /* EOF: quit */
        have += got;
        line[have] = 0;
        char *nl;
        int quit = 0;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = 0;
            if (strcmp(line, "shared") == 0)
                printf("SHARED %d %d %d\n", kcmp_file(getpid(), getpid(), 3, 4), kcmp_file(getpid(), child, 3, 3),
                       kcmp_file(getpid(), child, 3, 4));
            else if (strcmp(line, "count") == 0)
                printf("COUNT %ld %lld\n", n, (long long)lseek(3, 0, SEEK_CUR));
            else if (strcmp(line, "quit") == 0)
                quit = 1;
            else if (line[0])
                printf("unknown command '%s'\n", line);
            size_t used = nl + 1 - line;
            memmove(line, nl + 1, have - used + 1);
            have -= used;
        }
        if (have >= sizeof line - 1) have = 0;
        if (quit) break;
    }
    kill(child, SIGTERM);
    int st = -1;
    while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
    }
    printf("BYE %d\n", st);
    return 0;
}
