/*
 * cryo test fixture: both ends of a TCP connection in the tree, with data in
 * every queue. Usage: tcp_pair 4|6
 *
 * The parent (A) listens on loopback (port from the kernel, receive buffer made
 * small first), forks a child (B) that connects, and sends B 1000 bytes that B
 * does not read. B sets a send buffer of its own, goes non-blocking and writes
 * a known pattern until EAGAIN: A's receive window is full, so part of it waits
 * in A's receive queue and part in B's send queue, never sent. B tells A how
 * much it wrote and its queue sizes; A prints
 *   READY <pid> <written> <A inq> <B inq> <B outq> <B unsent>
 * and waits for a line on stdin. Then B reads and checks the 1000 bytes, A reads
 * and checks all B wrote, and they exchange 100 numbers; A prints
 * "OK <written>" (or "FAIL <what>") and exits 0 once B exited 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned char pat_a(long i) { return (unsigned char)(i * 13 + 5); }
static unsigned char pat_b(long i) { return (unsigned char)(i * 7 + 3 + (i >> 11)); }

static void die(const char *what) {
    printf("FAIL %s: %s\n", what, strerror(errno));
    fflush(stdout);
    exit(1);
}

static void read_full(int fd, void *buf, size_t n, const char *what) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die(what);
        got += r;
    }
}

static void write_full(int fd, const void *buf, size_t n, const char *what) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = write(fd, (const char *)buf + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die(what);
        done += r;
    }
}

static int ioc(int fd, unsigned long req) {
    int v = -1;
    if (ioctl(fd, req, &v) < 0) die("ioctl");
    return v;
}

int main(int argc, char **argv) {
    int v6 = argc > 1 && strcmp(argv[1], "6") == 0;
    int fam = v6 ? AF_INET6 : AF_INET;
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    }
    int l = socket(fam, SOCK_STREAM, 0);
    int small = 4096;
    if (l < 0 || setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) < 0) die("listener");
    if (bind(l, (struct sockaddr *)&ss, len) < 0 || listen(l, 1) < 0) die("bind/listen");
    if (getsockname(l, (struct sockaddr *)&ss, &len) < 0) die("getsockname");
    int info[2], go[2];
    if (pipe(info) < 0 || pipe(go) < 0) die("pipe");
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        close(l);
        close(info[0]);
        close(go[1]);
        int s = socket(fam, SOCK_STREAM, 0);
        int sndbuf = 32768;
        if (s < 0 || setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) < 0) die("B socket");
        if (connect(s, (struct sockaddr *)&ss, len) < 0) die("connect");
        for (int i = 0; i < 3000 && ioc(s, SIOCINQ) < 1000; i++) usleep(10000);
        fcntl(s, F_SETFL, O_NONBLOCK);
        long written = 0;
        unsigned char buf[4096];
        for (;;) {
            for (int i = 0; i < (int)sizeof buf; i++) buf[i] = pat_b(written + i);
            ssize_t r = write(s, buf, sizeof buf);
            if (r < 0 && errno == EAGAIN) {
                // the window closed: let the last segments settle, then make sure it stays full
                usleep(100000);
                r = write(s, buf, sizeof buf);
                if (r < 0 && errno == EAGAIN) break;
            }
            if (r < 0) die("B write");
            written += r;
        }
        long rep[5] = {written, ioc(s, SIOCINQ), ioc(s, SIOCOUTQ), ioc(s, SIOCOUTQNSD), 0};
        write_full(info[1], rep, sizeof rep, "B report");
        char c;
        read_full(go[0], &c, 1, "B go");
        fcntl(s, F_SETFL, 0);
        unsigned char in[1000];
        read_full(s, in, sizeof in, "B read");
        for (int i = 0; i < 1000; i++) if (in[i] != pat_a(i)) { printf("FAIL B byte %d\n", i); fflush(stdout); exit(1); }
        for (;;) {
            uint64_t n;
            ssize_t r = read(s, &n, sizeof n);
            if (r == 0) break;
            if (r != sizeof n) die("B ping");
            n++;
            write_full(s, &n, sizeof n, "B pong");
        }
        exit(0);
    }
    close(info[1]);
    close(go[0]);
    int a = accept(l, NULL, NULL);
    if (a < 0) die("accept");
    unsigned char out[1000];
    for (int i = 0; i < 1000; i++) out[i] = pat_a(i);
    write_full(a, out, sizeof out, "A write");
    long rep[5];
    read_full(info[0], rep, sizeof rep, "A report");
    printf("READY %d %ld %d %ld %ld %ld\n", getpid(), rep[0], ioc(a, SIOCINQ), rep[1], rep[2], rep[3]);
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin)) die("stdin");
    write_full(go[1], "g", 1, "A go");
    unsigned char buf[65536];
    long got = 0;
    while (got < rep[0]) {
        ssize_t r = read(a, buf, sizeof buf < (size_t)(rep[0] - got) ? sizeof buf : (size_t)(rep[0] - got));
        if (r <= 0) die("A read");
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] != pat_b(got + i)) { printf("FAIL A byte %ld\n", got + i); fflush(stdout); exit(1); }
        }
        got += r;
    }
    for (uint64_t n = 0; n < 200; n += 2) {
        uint64_t back;
        write_full(a, &n, sizeof n, "A ping");
        read_full(a, &back, sizeof back, "A pong");
        if (back != n + 1) { printf("FAIL pong %lu for %lu\n", (unsigned long)back, (unsigned long)n); fflush(stdout); exit(1); }
    }
    shutdown(a, SHUT_WR);
    int st;
    if (waitpid(child, &st, 0) != child) die("waitpid");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { printf("FAIL child status %d\n", st); fflush(stdout); exit(1); }
    printf("OK %ld\n", got);
    fflush(stdout);
    return 0;
}
