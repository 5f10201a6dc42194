/* Holds one given pid: a child created with clone3(set_tid=PID) pauses until stdin ends. Prints READY PID. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    pid_t want = atoi(argv[1]);
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    args.set_tid = (uint64_t)(uintptr_t)&want;
    args.set_tid_size = 1;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) {
        printf("FAIL clone3(set_tid=%d): %s\n", want, strerror(errno));
        return 1;
    }
    if (pid == 0) {
        for (;;) pause();
    }
    printf("READY %ld\n", pid);
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}
