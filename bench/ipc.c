/*
 * ipc bench target: in its own IPC namespace (run under `unshare --ipc`), a message queue holding
 * QUEUE_MIB MiB of 8 KiB messages and a SHM_MIB MiB shared memory segment filled with a pattern and
 * attached. Prints READY, then pause()s. On SIGUSR1 it checks both and writes OK/BAD to RESULT_FILE.
 *   ipc QUEUE_MIB SHM_MIB RESULT_FILE
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/shm.h>
#include <unistd.h>

#define MSG 8192
static int q, h;
static long nmsg;
static uint64_t *seg;
static size_t words;
static const char *result;
struct m { long type; char text[MSG]; };

static void check(int sig) {
    (void) sig;
    int ok = 1;
    struct msqid_ds ds;
    if (msgctl(q, IPC_STAT, &ds) != 0 || (long) ds.msg_qnum != nmsg) ok = 0;
    static struct m msg;
    for (long i = 0; ok && i < nmsg; i++) {            /* read every message back (MSG_COPY keeps them) */
        ssize_t n = msgrcv(q, &msg, MSG, i, IPC_NOWAIT | 040000);
        if (n != MSG || msg.type != 1 + (i % 7) || msg.text[0] != (char) i || msg.text[MSG - 1] != (char) (i * 3)) ok = 0;
    }
    for (size_t i = 0; ok && i < words; i++) if (seg[i] != i * 0x9E3779B97F4A7C15ull) ok = 0;
    char line[64];
    int len = snprintf(line, sizeof line, "%s messages=%ld shm_words=%zu\n", ok ? "OK" : "BAD", nmsg, words);
    int fd = open(result, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) { (void) !write(fd, line, len); close(fd); }
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: ipc QUEUE_MIB SHM_MIB RESULT_FILE\n"); return 2; }
    long qbytes = atol(argv[1]) << 20;
    size_t shm = (size_t) atol(argv[2]) << 20;
    result = argv[3];
    for (int fd = 3; fd < 1024; fd++) close(fd);
    FILE *f = fopen("/proc/sys/kernel/msgmnb", "w");     /* this namespace's own limit */
    if (!f || fprintf(f, "%ld", qbytes) < 0 || fclose(f) != 0) { perror("msgmnb"); return 1; }
    q = msgget(IPC_PRIVATE, 0600);
    h = shmget(IPC_PRIVATE, shm, 0600);
    if (q < 0 || h < 0) { perror("get"); return 1; }
    static struct m msg;
    nmsg = qbytes / MSG;
    for (long i = 0; i < nmsg; i++) {
        msg.type = 1 + (i % 7);
        memset(msg.text, (char) i, MSG);
        msg.text[MSG - 1] = (char) (i * 3);
        if (msgsnd(q, &msg, MSG, IPC_NOWAIT) != 0) { perror("msgsnd"); return 1; }
    }
    seg = shmat(h, 0, 0);
    words = shm / 8;
    for (size_t i = 0; i < words; i++) seg[i] = i * 0x9E3779B97F4A7C15ull;
    signal(SIGUSR1, check);
    printf("READY %d\n", getpid());
    fflush(stdout);
    for (;;) pause();
}
