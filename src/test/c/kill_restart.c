/* kill_restart: what a restart creates outside its tasks, in one tree (JanitorKillTest, bench/kill-restart.sh).
 * Usage: kill_restart DIR. Makes a SysV shm segment (attached), a semaphore set and a message queue (IPC_PRIVATE,
 * in the caller's IPC namespace), DIR/ghost opened and unlinked (a ghost file with a name), a TCP listener on
 * 127.0.0.1, and a child; prints "READY shm=ID sem=ID msg=ID port=PORT child=PID" and waits. On a line "check"
 * on stdin it answers "OK" if its shm still holds what it wrote and the ghost its data; at the end of stdin it
 * waits to be killed. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: kill_restart DIR\n"); return 2; }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int shm = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    int sem = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    int msg = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (shm < 0 || sem < 0 || msg < 0) { perror("ipc"); return 1; }
    char *p = shmat(shm, NULL, 0);
    if (p == (void *) -1) { perror("shmat"); return 1; }
    strcpy(p, "shm kill_restart");
    char path[4096];
    snprintf(path, sizeof path, "%s/ghost", argv[1]);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || write(fd, "ghost kill_restart", 18) != 18 || unlink(path) != 0) { perror(path); return 1; }
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(l, (struct sockaddr *) &a, sizeof a) || listen(l, 4) || getsockname(l, (struct sockaddr *) &a, &len)) { perror("tcp"); return 1; }
    int ready[2];
    if (pipe(ready)) { perror("pipe"); return 1; }
    pid_t child = fork();
    if (child == 0) {   /* memory of its own, not inherited: what a lazy restart serves */
        /* untouched first and last pages: no page record runs on into a neighbouring mapping */
        char *q = mmap(NULL, (1 << 20) + 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (q != MAP_FAILED) memset(q + 4096, 7, 1 << 20);
        close(ready[0]);
        close(ready[1]);   /* the parent's read sees the end: the child's memory is in place */
        for (;;) pause();
    }
    close(ready[1]);
    char c;
    if (read(ready[0], &c, 1) != 0) { perror("read"); return 1; }
    close(ready[0]);
    printf("READY shm=%d sem=%d msg=%d port=%d child=%d\n", shm, sem, msg, ntohs(a.sin_port), child);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        char buf[32] = {0};
        if (strncmp(line, "check", 5) == 0) {
            int ok = strcmp(p, "shm kill_restart") == 0 && pread(fd, buf, 18, 0) == 18 && strcmp(buf, "ghost kill_restart") == 0;
            printf(ok ? "OK\n" : "BAD\n");
        }
    }
    for (;;) pause();   /* stdin at its end (a restart -d's /dev/null): killed by pid */
}
