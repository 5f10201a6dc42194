/*
 * cryo test fixture: Unix-domain sockets of the tree's own, with data queued in
 * them. Sets every scenario named on the command line up, prints
 * "READY <pid>", then answers commands on stdin:
 *   verify  checks every scenario (consuming the data): "OK <name>" or
 *           "FAIL <name>: <what>" each, then "DONE <failures>"
 *   peek    checks, without consuming, that every queue still holds what setup
 *           put there (after checkpoint --leave-running): "OK <name>"... "DONE n"
 *   quit    "BYE", exit 0
 * With "--signal FILE" first (a container's init, whose stdio is gone after a
 * detached restart): each SIGUSR1 runs verify, its lines written to FILE.
 *
 *   stream     socketpair(SOCK_STREAM): 3000+ bytes queued each way
 *   dgram      socketpair(SOCK_DGRAM): 3 and 2 datagrams of different lengths
 *   seqpacket  socketpair(SOCK_SEQPACKET): the same with records
 *   shutdown   stream pair, "x" queued, then shutdown(a, SHUT_WR)
 *   options    stream pair, SO_PASSCRED on a, SO_SNDBUF/SO_RCVBUF changed, SO_PEEK_OFF 2
 *              on b, "creds" queued to a (with credentials) and "0123456789" to b
 *   closed     stream pair, "left" queued to a, then b closed
 *   fork       stream pair between the fixture and a child, data queued both ways
 *   listen:DIR listener at DIR/listen.sock (mode 0640), one accepted connection with
 *              data queued both ways, one whose client sent "bye" and closed, two
 *              connections waiting in its accept queue
 *   abstract   datagram socket bound to an abstract name, a client connected to it
 *              that sent two datagrams; a seqpacket listener on another abstract name
 *   dgramnamed:DIR  datagram sockets bound to DIR/d0..d3.sock: d0 and d1 connected to each
 *              other with datagrams queued both ways; d2 unconnected, holding a datagram
 *              sent by d3 and then one by an unnamed socket
 *   rights     stream pair with an fd in flight (SCM_RIGHTS) in its queue
 *   oob        stream pair with "ab", an out-of-band "!" and "cd" queued
 *   waitdata:DIR  listener at DIR/waitdata.sock with a connection not accepted yet that
 *              sent "early" into it
 *   connect:PATH  a stream socket connected to the listener at PATH (another process);
 *              verify: connected to PATH, "hi" sent
 *   server:PATH   a stream listener at PATH; the command "accept" accepts every connection
 *                 waiting ("ACCEPTED <n>")
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

#define MAXS 16
static const char *names[MAXS];
static int fds[MAXS][8];
static pid_t kids[MAXS];
static char dirs[MAXS][256];
static int nsc;
static char failure[512];

#define FAILF(...) do { snprintf(failure, sizeof failure, __VA_ARGS__); return 0; } while (0)

static void pattern(char *b, int n, int seed) {
    for (int i = 0; i < n; i++) b[i] = (char) ('a' + (i * 7 + seed) % 26);
}

static void xwrite(int fd, const void *b, size_t n) {
    if (send(fd, b, n, MSG_NOSIGNAL) != (ssize_t) n) { printf("SETUP-FAIL send: %s\n", strerror(errno)); exit(1); }
}

/* Reads exactly n bytes (non-blocking) and compares them with want. */
static int expect(int fd, const char *want, int n, const char *what) {
    char buf[70000];
    int got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
        if (r <= 0) FAILF("%s: %d of %d bytes, then %s", what, got, n, r == 0 ? "EOF" : strerror(errno));
        got += r;
    }
    if (memcmp(buf, want, n) != 0) FAILF("%s: bytes differ", what);
    return 1;
}

static int expect_empty(int fd, const char *what) {
    char c;
    ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
    if (r >= 0 || errno != EAGAIN) FAILF("%s: more in the queue (%zd)", what, r);
    return 1;
}

static int expect_msg(int fd, const char *want, int n, const char *what) {
    char buf[70000];
    ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r != n) FAILF("%s: a message of %zd bytes, wanted %d (%s)", what, r, n, r < 0 ? strerror(errno) : "");
    if (memcmp(buf, want, n) != 0) FAILF("%s: bytes differ", what);
    return 1;
}

static int sockpair(int type, int *sv) {
    if (socketpair(AF_UNIX, type, 0, sv) != 0) { printf("SETUP-FAIL socketpair: %s\n", strerror(errno)); exit(1); }
    return 0;
}

static socklen_t addr(struct sockaddr_un *a, const char *path, int abstract) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (abstract) {
        memcpy(a->sun_path + 1, path, strlen(path));
        return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path);
    }
    strcpy(a->sun_path, path);
    return sizeof *a;
}

static char big1[5000], big2[4000], d1[1], d2[100], d3[3000], e1[7], e2[2500];

static void setup(int i, const char *s) {
    int *f = fds[i];
    names[i] = s;
    pattern(big1, sizeof big1, 1); pattern(big2, sizeof big2, 2);
    pattern(d1, sizeof d1, 3); pattern(d2, sizeof d2, 4); pattern(d3, sizeof d3, 5);
    pattern(e1, sizeof e1, 6); pattern(e2, sizeof e2, 7);
    if (!strcmp(s, "stream")) {
        sockpair(SOCK_STREAM, f);
        xwrite(f[0], big1, sizeof big1);
        xwrite(f[1], big2, 1000);
        xwrite(f[1], big2 + 1000, 3000);
    } else if (!strcmp(s, "dgram") || !strcmp(s, "seqpacket")) {
        sockpair(!strcmp(s, "dgram") ? SOCK_DGRAM : SOCK_SEQPACKET, f);
        xwrite(f[0], d1, sizeof d1); xwrite(f[0], d2, sizeof d2); xwrite(f[0], d3, sizeof d3);
        xwrite(f[1], e1, sizeof e1); xwrite(f[1], e2, sizeof e2);
    } else if (!strcmp(s, "shutdown")) {
        sockpair(SOCK_STREAM, f);
        xwrite(f[0], "x", 1);
        shutdown(f[0], SHUT_WR);
    } else if (!strcmp(s, "options")) {
        sockpair(SOCK_STREAM, f);
        int one = 1, snd = 65536, rcv = 50000, off = 2;
        setsockopt(f[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
        setsockopt(f[1], SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
        setsockopt(f[0], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
        xwrite(f[1], "creds", 5);
        xwrite(f[0], "0123456789", 10);
        setsockopt(f[1], SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off);
    } else if (!strcmp(s, "closed")) {
        sockpair(SOCK_STREAM, f);
        xwrite(f[1], "left", 4);
        close(f[1]);
        f[1] = -1;
    } else if (!strcmp(s, "fork")) {
        sockpair(SOCK_STREAM, f);
        xwrite(f[0], big1, 2000);
        pid_t c = fork();
        if (c == 0) {
            close(f[0]);
            xwrite(f[1], big2, 3000);
            char go;
            int ctl[2] = {-1, -1};
            (void) ctl;
            /* wait for the parent's "go" (a byte after its 2000), then check and answer */
            char buf[2001];
            int got = 0;
            while (got < 2001) {
                ssize_t r = recv(f[1], buf + got, 2001 - got, 0);
                if (r <= 0) _exit(2);
                got += r;
            }
            go = buf[2000];
            const char *ans = memcmp(buf, big1, 2000) == 0 && go == 'G' ? "child-ok" : "child-bad";
            xwrite(f[1], ans, 8);
            for (;;) pause();
        }
        kids[i] = c;
    } else if (!strncmp(s, "listen:", 7)) {
        snprintf(dirs[i], sizeof dirs[i], "%s/listen.sock", s + 7);
        struct sockaddr_un a;
        socklen_t l = addr(&a, dirs[i], 0);
        unlink(dirs[i]);
        f[0] = socket(AF_UNIX, SOCK_STREAM, 0);
        if (bind(f[0], (void *) &a, l) || listen(f[0], 5)) { printf("SETUP-FAIL listen: %s\n", strerror(errno)); exit(1); }
        chmod(dirs[i], 0640);
        f[1] = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(f[1], (void *) &a, l)) { printf("SETUP-FAIL connect: %s\n", strerror(errno)); exit(1); }
        f[2] = accept(f[0], NULL, NULL);
        xwrite(f[1], "c2s", 3);
        xwrite(f[2], "s2c-longer", 10);
        int gone = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(gone, (void *) &a, l)) { printf("SETUP-FAIL connect: %s\n", strerror(errno)); exit(1); }
        f[5] = accept(f[0], NULL, NULL);
        xwrite(gone, "bye", 3);
        close(gone);
        for (int k = 3; k <= 4; k++) {
            f[k] = socket(AF_UNIX, SOCK_STREAM, 0);
            if (connect(f[k], (void *) &a, l)) { printf("SETUP-FAIL connect: %s\n", strerror(errno)); exit(1); }
        }
    } else if (!strcmp(s, "abstract")) {
        char n1[64], n2[64];
        /* unique on the host: a container's init is pid 1 in its own namespace, but abstract names are per network namespace */
        unsigned long long tag = 0;
        int ur = open("/dev/urandom", O_RDONLY);
        if (ur < 0 || read(ur, &tag, sizeof tag) != sizeof tag) tag = (unsigned long long) time(NULL);
        if (ur >= 0) close(ur);
        snprintf(n1, sizeof n1, "cryo-dgram-%d-%llx", getpid(), tag);
        snprintf(n2, sizeof n2, "cryo-seq-%d-%llx", getpid(), tag);
        struct sockaddr_un a;
        socklen_t l = addr(&a, n1, 1);
        f[0] = socket(AF_UNIX, SOCK_DGRAM, 0);
        if (bind(f[0], (void *) &a, l)) { printf("SETUP-FAIL bind: %s\n", strerror(errno)); exit(1); }
        f[1] = socket(AF_UNIX, SOCK_DGRAM, 0);
        if (connect(f[1], (void *) &a, l)) { printf("SETUP-FAIL connect: %s\n", strerror(errno)); exit(1); }
        xwrite(f[1], d2, sizeof d2);
        xwrite(f[1], e1, sizeof e1);
        l = addr(&a, n2, 1);
        f[2] = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        if (bind(f[2], (void *) &a, l) || listen(f[2], 3)) { printf("SETUP-FAIL listen: %s\n", strerror(errno)); exit(1); }
        f[3] = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        if (connect(f[3], (void *) &a, l)) { printf("SETUP-FAIL connect: %s\n", strerror(errno)); exit(1); }
        f[4] = accept(f[2], NULL, NULL);
        xwrite(f[3], d1, sizeof d1);
        xwrite(f[3], d3, sizeof d3);
    } else if (!strcmp(s, "rights")) {
        sockpair(SOCK_STREAM, f);
        char c = 'r';
        struct iovec iov = {&c, 1};
        char cbuf[CMSG_SPACE(sizeof(int))];
        struct msghdr m = {0};
        m.msg_iov = &iov; m.msg_iovlen = 1; m.msg_control = cbuf; m.msg_controllen = sizeof cbuf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_SOCKET; cm->cmsg_type = SCM_RIGHTS; cm->cmsg_len = CMSG_LEN(sizeof(int));
        int sent = 0;
        memcpy(CMSG_DATA(cm), &sent, sizeof sent);
        if (sendmsg(f[0], &m, 0) != 1) { printf("SETUP-FAIL sendmsg: %s\n", strerror(errno)); exit(1); }
    } else if (!strncmp(s, "server:", 7)) {
        struct sockaddr_un a;
        socklen_t l = addr(&a, s + 7, 0);
        unlink(s + 7);
        f[0] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (bind(f[0], (void *) &a, l) || listen(f[0], 5)) { printf("SETUP-FAIL listen: %s\n", strerror(errno)); exit(1); }
    } else if (!strncmp(s, "dgramnamed:", 11)) {
        char p[5][300];
        struct sockaddr_un a[5];
        socklen_t l[5];
        for (int k = 0; k < 5; k++) {
            snprintf(p[k], sizeof p[k], "%s/d%d.sock", s + 11, k);
            unlink(p[k]);
            l[k] = addr(&a[k], p[k], 0);
            f[k] = socket(AF_UNIX, SOCK_DGRAM, 0);
            if (k != 4 && bind(f[k], (void *) &a[k], l[k])) { printf("SETUP-FAIL bind: %s\n", strerror(errno)); exit(1); }
        }
        if (connect(f[0], (void *) &a[1], l[1]) || connect(f[1], (void *) &a[0], l[0])) { printf("SETUP-FAIL connect: %s\n", strerror(errno)); exit(1); }
        xwrite(f[0], d2, sizeof d2); xwrite(f[0], d1, sizeof d1);
        xwrite(f[1], e1, sizeof e1);
        /* f[2] a named server, unconnected: a datagram from the named f[3], then one from the unnamed f[4] */
        if (sendto(f[3], e2, sizeof e2, 0, (void *) &a[2], l[2]) != sizeof e2 || sendto(f[4], d3, sizeof d3, 0, (void *) &a[2], l[2]) != sizeof d3) {
            printf("SETUP-FAIL sendto: %s\n", strerror(errno)); exit(1);
        }
        strcpy(dirs[i], p[3]);
    } else if (!strcmp(s, "oob")) {
        sockpair(SOCK_STREAM, f);
        xwrite(f[0], "ab", 2);
        if (send(f[0], "!", 1, MSG_OOB) != 1) { printf("SETUP-FAIL MSG_OOB: %s\n", strerror(errno)); exit(1); }
        xwrite(f[0], "cd", 2);
    } else if (!strncmp(s, "waitdata:", 9)) {
        snprintf(dirs[i], sizeof dirs[i], "%s/waitdata.sock", s + 9);
        struct sockaddr_un a;
        socklen_t l = addr(&a, dirs[i], 0);
        unlink(dirs[i]);
        f[0] = socket(AF_UNIX, SOCK_STREAM, 0);
        if (bind(f[0], (void *) &a, l) || listen(f[0], 5)) { printf("SETUP-FAIL listen: %s\n", strerror(errno)); exit(1); }
        f[1] = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(f[1], (void *) &a, l)) { printf("SETUP-FAIL connect: %s\n", strerror(errno)); exit(1); }
        xwrite(f[1], "early", 5);
    } else if (!strncmp(s, "connect:", 8)) {
        struct sockaddr_un a;
        socklen_t l = addr(&a, s + 8, 0);
        f[0] = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(f[0], (void *) &a, l)) { printf("SETUP-FAIL connect: %s\n", strerror(errno)); exit(1); }
    } else {
        printf("SETUP-FAIL unknown scenario %s\n", s);
        exit(1);
    }
}

static int peekall(int fd, const char *want, int n, const char *what) {
    char buf[70000];
    ssize_t r = recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    if (r < n) FAILF("%s: %zd bytes to peek, wanted at least %d", what, r, n);
    if (memcmp(buf, want, n) != 0) FAILF("%s: bytes differ", what);
    return 1;
}

/* Without consuming: the first bytes or message of each queue are still there, peek offsets kept. */
static int peek_check(int i) {
    int *f = fds[i];
    const char *s = names[i];
    if (!strcmp(s, "stream")) return peekall(f[1], big1, 4000, "a->b") && peekall(f[0], big2, 4000, "b->a");
    if (!strcmp(s, "dgram") || !strcmp(s, "seqpacket")) return peekall(f[1], d1, 1, "first message a->b") && peekall(f[0], e1, 7, "first message b->a");
    if (!strcmp(s, "options")) {
        int off = -1;
        socklen_t l = sizeof off;
        getsockopt(f[1], SOL_SOCKET, SO_PEEK_OFF, &off, &l);
        if (off != 2) FAILF("SO_PEEK_OFF of b is %d, not 2", off);
        int zero = -1;
        setsockopt(f[1], SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof zero);
        int ok = peekall(f[1], "0123456789", 10, "a->b");
        int two = 2;
        setsockopt(f[1], SOL_SOCKET, SO_PEEK_OFF, &two, sizeof two);
        return ok;
    }
    return 1;
}

static int getint(int fd, int opt) {
    int v = -1;
    socklen_t l = sizeof v;
    getsockopt(fd, SOL_SOCKET, opt, &v, &l);
    return v;
}

static int check(int i) {
    int *f = fds[i];
    const char *s = names[i];
    char buf[100];
    if (!strcmp(s, "stream")) {
        if (!expect(f[1], big1, sizeof big1, "a->b") || !expect_empty(f[1], "a->b")) return 0;
        if (!expect(f[0], big2, sizeof big2, "b->a") || !expect_empty(f[0], "b->a")) return 0;
        xwrite(f[0], "more", 4);
        return expect(f[1], "more", 4, "a->b after restart");
    }
    if (!strcmp(s, "dgram") || !strcmp(s, "seqpacket")) {
        if (!expect_msg(f[1], d1, sizeof d1, "message 1 a->b") || !expect_msg(f[1], d2, sizeof d2, "message 2 a->b")
            || !expect_msg(f[1], d3, sizeof d3, "message 3 a->b") || !expect_empty(f[1], "a->b")) return 0;
        if (!expect_msg(f[0], e1, sizeof e1, "message 1 b->a") || !expect_msg(f[0], e2, sizeof e2, "message 2 b->a")
            || !expect_empty(f[0], "b->a")) return 0;
        xwrite(f[1], "again", 5);
        return expect_msg(f[0], "again", 5, "b->a after restart");
    }
    if (!strcmp(s, "shutdown")) {
        if (!expect(f[1], "x", 1, "a->b")) return 0;
        if (recv(f[1], buf, 1, MSG_DONTWAIT) != 0) FAILF("b does not see the end of a's writing");
        if (send(f[0], "y", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE) FAILF("a can still write after SHUT_WR");
        xwrite(f[1], "z", 1);
        return expect(f[0], "z", 1, "b->a");
    }
    if (!strcmp(s, "options")) {
        if (getint(f[0], SO_PASSCRED) != 1) FAILF("SO_PASSCRED of a is off");
        if (getint(f[1], SO_PASSCRED) != 0) FAILF("SO_PASSCRED of b is on");
        if (getint(f[1], SO_SNDBUF) != 131072) FAILF("SO_SNDBUF of b is %d", getint(f[1], SO_SNDBUF));
        if (getint(f[0], SO_RCVBUF) != 100000) FAILF("SO_RCVBUF of a is %d", getint(f[0], SO_RCVBUF));
        if (getint(f[1], SO_PEEK_OFF) != 2) FAILF("SO_PEEK_OFF of b is %d", getint(f[1], SO_PEEK_OFF));
        char peeked[8] = {0};
        if (recv(f[1], peeked, 3, MSG_PEEK | MSG_DONTWAIT) != 3 || memcmp(peeked, "234", 3)) FAILF("peek at offset 2 gives '%s'", peeked);
        char data[16];
        struct iovec iov = {data, sizeof data};
        char cbuf[CMSG_SPACE(sizeof(struct ucred))];
        struct msghdr m = {0};
        m.msg_iov = &iov; m.msg_iovlen = 1; m.msg_control = cbuf; m.msg_controllen = sizeof cbuf;
        ssize_t r = recvmsg(f[0], &m, MSG_DONTWAIT);
        if (r != 5 || memcmp(data, "creds", 5)) FAILF("b->a: %zd bytes", r);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        if (!cm || cm->cmsg_type != SCM_CREDENTIALS) FAILF("b->a: no credentials");
        struct ucred u;
        memcpy(&u, CMSG_DATA(cm), sizeof u);
        if (u.pid != getpid() || u.uid != getuid() || u.gid != getgid()) FAILF("b->a: credentials pid %d uid %d gid %d", u.pid, u.uid, u.gid);
        int off = -1;
        setsockopt(f[1], SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off);
        return expect(f[1], "0123456789", 10, "a->b");
    }
    if (!strcmp(s, "closed")) {
        if (!expect(f[0], "left", 4, "the closed peer's data")) return 0;
        if (recv(f[0], buf, 1, MSG_DONTWAIT) != 0) FAILF("no end of stream after the closed peer's data");
        if (send(f[0], "y", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE) FAILF("writing to the closed peer does not fail with EPIPE");
        return 1;
    }
    if (!strcmp(s, "fork")) {
        if (!expect(f[0], big2, 3000, "child->parent")) return 0;
        xwrite(f[0], "G", 1);
        int got = 0;
        while (got < 8) {
            ssize_t r = recv(f[0], buf + got, 8 - got, 0);
            if (r <= 0) FAILF("no answer from the child");
            got += r;
        }
        if (memcmp(buf, "child-ok", 8)) FAILF("the child says %.8s", buf);
        return 1;
    }
    if (!strncmp(s, "listen:", 7)) {
        struct stat st;
        if (stat(dirs[i], &st) || !S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != 0640) FAILF("%s is not a socket of mode 0640", dirs[i]);
        if (!expect(f[2], "c2s", 3, "client->accepted") || !expect(f[1], "s2c-longer", 10, "accepted->client")) return 0;
        if (!expect(f[5], "bye", 3, "from the closed client")) return 0;
        if (recv(f[5], buf, 1, MSG_DONTWAIT) != 0) FAILF("no end of stream after the closed client's data");
        struct sockaddr_un a;
        socklen_t l = sizeof a;
        getsockname(f[2], (void *) &a, &l);
        if (strcmp(a.sun_path, dirs[i])) FAILF("the accepted socket is named '%.100s'", a.sun_path);
        fcntl(f[0], F_SETFL, O_NONBLOCK);
        int c1 = accept(f[0], NULL, NULL), c2 = accept(f[0], NULL, NULL), c3 = accept(f[0], NULL, NULL);
        if (c1 < 0 || c2 < 0) FAILF("the two waiting connections are not in the accept queue");
        if (c3 >= 0 || errno != EAGAIN) FAILF("a third connection in the accept queue");
        xwrite(f[3], "1", 1);
        xwrite(f[4], "2", 1);
        if (!expect(c1, "1", 1, "first waiting connection") || !expect(c2, "2", 1, "second waiting connection")) return 0;
        struct sockaddr_un b;
        l = addr(&b, dirs[i], 0);
        int n = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(n, (void *) &b, l)) FAILF("a new connection to %.200s: %s", dirs[i], strerror(errno));
        close(n); close(c1); close(c2);
        return 1;
    }
    if (!strncmp(s, "dgramnamed:", 11)) {
        if (!expect_msg(f[1], d2, sizeof d2, "d0->d1 1") || !expect_msg(f[1], d1, sizeof d1, "d0->d1 2") || !expect_empty(f[1], "d0->d1")) return 0;
        if (!expect_msg(f[0], e1, sizeof e1, "d1->d0") || !expect_empty(f[0], "d1->d0")) return 0;
        char m[70000];
        struct sockaddr_un from;
        socklen_t fl = sizeof from;
        memset(&from, 0, sizeof from);
        ssize_t r = recvfrom(f[2], m, sizeof m, MSG_DONTWAIT, (void *) &from, &fl);
        if (r != sizeof e2 || memcmp(m, e2, r) || strcmp(from.sun_path, dirs[i])) FAILF("the first datagram of d2: %zd bytes from '%.100s'", r, from.sun_path);
        fl = sizeof from;
        memset(&from, 0, sizeof from);
        r = recvfrom(f[2], m, sizeof m, MSG_DONTWAIT, (void *) &from, &fl);
        if (r != sizeof d3 || memcmp(m, d3, r) || fl > offsetof(struct sockaddr_un, sun_path)) FAILF("the second datagram of d2: %zd bytes, address length %d", r, (int) fl);
        if (!expect_empty(f[2], "d2")) return 0;
        xwrite(f[1], "back", 4);
        return expect_msg(f[0], "back", 4, "d1->d0 after restart");
    }
    if (!strcmp(s, "abstract")) {
        if (!expect_msg(f[0], d2, sizeof d2, "datagram 1") || !expect_msg(f[0], e1, sizeof e1, "datagram 2") || !expect_empty(f[0], "server")) return 0;
        xwrite(f[1], "after", 5);
        if (!expect_msg(f[0], "after", 5, "datagram after restart")) return 0;
        if (!expect_msg(f[4], d1, sizeof d1, "record 1") || !expect_msg(f[4], d3, sizeof d3, "record 2")) return 0;
        return 1;
    }
    if (!strncmp(s, "connect:", 8)) {
        struct sockaddr_un a;
        socklen_t l = sizeof a;
        if (getpeername(f[0], (void *) &a, &l) || strcmp(a.sun_path, s + 8)) FAILF("not connected to %.200s", s + 8);
        xwrite(f[0], "hi", 2);
        return 1;
    }
    return 1;
}

static void verify(FILE *out) {
    int fails = 0;
    for (int i = 0; i < nsc; i++) {
        failure[0] = 0;
        if (check(i)) fprintf(out, "OK %s\n", names[i]);
        else { fprintf(out, "FAIL %s: %s\n", names[i], failure); fails++; }
    }
    fprintf(out, "DONE %d\n", fails);
    fflush(out);
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *sigout = NULL;
    int first = 1;
    if (argc > 2 && !strcmp(argv[1], "--signal")) { sigout = argv[2]; first = 3; }
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    if (sigout) sigprocmask(SIG_BLOCK, &usr1, NULL);
    for (int i = first; i < argc && nsc < MAXS; i++) {
        for (int k = 0; k < 8; k++) fds[nsc][k] = -1;
        setup(nsc, argv[i]);
        nsc++;
    }
    printf("READY %d\n", getpid());
    if (sigout) {
        for (;;) {
            int sig;
            if (sigwait(&usr1, &sig) == 0) {
                FILE *out = fopen(sigout, "a");
                if (out) { verify(out); fclose(out); }
            }
        }
    }
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "verify", 6) || !strncmp(line, "peek", 4)) {
            int fails = 0;
            for (int i = 0; i < nsc; i++) {
                failure[0] = 0;
                if (line[0] == 'v' ? check(i) : peek_check(i)) printf("OK %s\n", names[i]);
                else { printf("FAIL %s: %s\n", names[i], failure); fails++; }
            }
            printf("DONE %d\n", fails);
        } else if (!strncmp(line, "accept", 6)) {
            int n = 0;
            for (int i = 0; i < nsc; i++) {
                if (strncmp(names[i], "server:", 7)) continue;
                int c, k = 1;
                while (k < 8 && (c = accept(fds[i][0], NULL, NULL)) >= 0) { fds[i][k++] = c; n++; }
            }
            printf("ACCEPTED %d\n", n);
        } else if (!strncmp(line, "quit", 4)) {
            for (int i = 0; i < nsc; i++) if (kids[i] > 0) { kill(kids[i], SIGKILL); waitpid(kids[i], NULL, 0); }
            printf("BYE\n");
            return 0;
        }
    }
    for (int i = 0; i < nsc; i++) if (kids[i] > 0) { kill(kids[i], SIGKILL); waitpid(kids[i], NULL, 0); }
    return 0;
}
