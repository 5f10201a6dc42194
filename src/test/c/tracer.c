/*
 * cryo test fixture: another tracer (as gdb or strace would be) that holds a task with PTRACE_SEIZE and
 * leaves it running. Prints "SEIZED <pid>" and waits for EOF on stdin; on exit the kernel detaches the task.
 *
 * Build: gcc -O1 -Wall -o tracer tracer.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: tracer PID\n"); return 2; }
    int pid = atoi(argv[1]);
    if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0) { perror("PTRACE_SEIZE"); return 1; }
    printf("SEIZED %d\n", pid);
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {
    }
    return 0;
}
