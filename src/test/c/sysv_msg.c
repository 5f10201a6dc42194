/*
 * cryo test helper: a SysV message queue by key, in the caller's IPC namespace (run it with nsenter -i).
 *   sysv_msg send KEY TYPE TEXT   msgget(KEY, IPC_CREAT|0600) then msgsnd; prints "ID <id>"
 *   sysv_msg show KEY             prints "QUEUE <id> qbytes=<n> qnum=<n>" then "MSG <type> <text>" per message
 *                                 in order (msgrcv MSG_COPY: nothing removed)
 * KEY in hex. Exits 1 with a message on stderr on any error.
 * Build: gcc -O1 -Wall -o sysv_msg sysv_msg.c
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

struct message {
    long type;
    char text[8192];
};

static int die(const char *what) {
    perror(what);
    return 1;
}

int main(int argc, char **argv) {
    static struct message m;
    if (argc < 3) {
        fprintf(stderr, "usage: sysv_msg send KEY TYPE TEXT | show KEY\n");
        return 2;
    }
    key_t key = (key_t) strtoul(argv[2], NULL, 16);
    if (strcmp(argv[1], "send") == 0 && argc == 5) {
        int id = msgget(key, IPC_CREAT | 0600);
        if (id < 0) return die("msgget");
        m.type = atol(argv[3]);
        size_t n = strlen(argv[4]);
        if (n > sizeof m.text) n = sizeof m.text;
        memcpy(m.text, argv[4], n);
        if (msgsnd(id, &m, n, IPC_NOWAIT) < 0) return die("msgsnd");
        printf("ID %d\n", id);
        return 0;
    }
    if (strcmp(argv[1], "show") == 0) {
        int id = msgget(key, 0);
        if (id < 0) return die("msgget");
        struct msqid_ds ds;
        if (msgctl(id, IPC_STAT, &ds) < 0) return die("msgctl");
        printf("QUEUE %d qbytes=%lu qnum=%lu\n", id, (unsigned long) ds.msg_qbytes, (unsigned long) ds.msg_qnum);
        for (unsigned long i = 0; i < ds.msg_qnum; i++) {
            ssize_t n = msgrcv(id, &m, sizeof m.text, (long) i, MSG_COPY | IPC_NOWAIT | MSG_NOERROR);
            if (n < 0) return die("msgrcv");
            printf("MSG %ld %.*s\n", m.type, (int) n, m.text);
        }
        return 0;
    }
    fprintf(stderr, "sysv_msg: bad arguments\n");
    return 2;
}
