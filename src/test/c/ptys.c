/*
 * Pty pairs inside a tree, for cryo's tests (PtyTest). Commands on stdin, one line each:
 *   verify   every pair checks itself and says OK/FAIL per check, then DONE
 *   quit     BYE and exit
 * Pair A: canonical slave with non-default modes (VEOL '%', no ECHOCTL) and window size 33x101, the controlling
 *   terminal of a child session leader whose grandchild's group is the foreground group; waiting at the master:
 *   the slave's "from slave\n" and the echo of the input; waiting at the slave: lines "line one\n", "eofline"
 *   (ended by EOF), "abc%" (ended by VEOL) and the partial line "partial".
 * Pair B: master only, locked, packet mode, the slave never opened.
 * Pair C: unlocked, slave raw (held by the parent), packet mode: input "raw\rdata" and output "out\n" waiting.
 * Prints "READY parent child grandchild" once set up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static int ma, mb, mc, sc;
static int cmd_to_child[2], reply_from_child[2];
static int fails;

static void check(int ok, const char *what, const char *detail)
{
    if (ok) printf("OK %s\n", what);
    else { printf("FAIL %s: %s\n", what, detail); fails++; }
    fflush(stdout);
}

/* What is readable at fd within ms, all of it (poll before each read). */
static int drain(int fd, char *buf, int max, int ms)
{
    int n = 0;
    struct pollfd p = {fd, POLLIN, 0};
    while (n < max && poll(&p, 1, ms) == 1 && (p.revents & POLLIN)) {
        int r = read(fd, buf + n, max - n);
        if (r <= 0) break;
        n += r;
        ms = 100;
    }
    return n;
}

static void escape(const char *b, int n, char *out)
{
    for (int i = 0; i < n; i++) {
        unsigned char c = b[i];
        if (c >= 32 && c < 127 && c != '\\') *out++ = c;
        else out += sprintf(out, "\\x%02x", c);
    }
    *out = 0;
}

static void expect_bytes(const char *what, const char *got, int n, const char *want, int wn)
{
    char e1[4096], e2[4096], d[9000];
    escape(got, n, e1);
    escape(want, wn, e2);
    snprintf(d, sizeof d, "got '%s', want '%s'", e1, e2);
    check(n == wn && memcmp(got, want, n) == 0, what, d);
}

static int open_master(int unlock)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) < 0 || (unlock && unlockpt(m) < 0)) { perror("SETUP-FAIL openpt"); exit(1); }
    return m;
}

/* In the grandchild, of the foreground group of A's slave: what it reads and what its session is. */
static void grandchild_checks(int s, pid_t leader)
{
    char buf[4096], d[64];
    char *want[] = {"line one\n", "eofline", "abc%"};
    for (int i = 0; i < 3; i++) {
        struct pollfd p = {s, POLLIN, 0};
        int r = poll(&p, 1, 2000) == 1 ? read(s, buf, sizeof buf) : -1;
        char what[64];
        snprintf(what, sizeof what, "A-slave-line-%d", i + 1);
        expect_bytes(what, buf, r < 0 ? 0 : r, want[i], strlen(want[i]));
    }
    struct pollfd p = {s, POLLIN, 0};
    check(poll(&p, 1, 200) == 0, "A-partial-line-stays-partial", "a line is readable");
    if (write(reply_from_child[1], "p", 1) != 1) exit(1);   /* the parent ends the line */
    int r = poll(&p, 1, 2000) == 1 ? read(s, buf, sizeof buf) : 0;
    expect_bytes("A-slave-partial-line", buf, r < 0 ? 0 : r, "partial more\n", 13);
    char *name = ttyname(s);
    struct stat a, b;
    fstat(s, &a);
    check(name && stat(name, &b) == 0 && a.st_rdev == b.st_rdev, "A-ttyname", name ? name : "none");
    snprintf(d, sizeof d, "getsid %d tcgetsid %d, leader %d", getsid(0), tcgetsid(s), leader);
    check(getsid(0) == leader && tcgetsid(s) == leader, "A-session-and-ctty", d);
    snprintf(d, sizeof d, "tcgetpgrp %d, want %d", tcgetpgrp(s), getpgrp());
    check(tcgetpgrp(s) == getpgrp() && getpgrp() == getpid(), "A-foreground-group", d);
    int tty = open("/dev/tty", O_RDWR);
    int e = errno;
    unsigned dev = 0;
    check(tty >= 0 && ioctl(tty, TIOCGDEV, &dev) == 0 && dev == (major(a.st_rdev) << 8 | minor(a.st_rdev)), "A-dev-tty-is-the-slave",
          tty < 0 ? strerror(e) : "another tty");
    if (tty >= 0) close(tty);
    struct termios t;
    tcgetattr(s, &t);
    check(t.c_cc[VEOL] == '%' && !(t.c_lflag & ECHOCTL) && (t.c_lflag & ICANON) && (t.c_lflag & ECHO), "A-termios", "modes differ");
    struct winsize w;
    ioctl(s, TIOCGWINSZ, &w);
    snprintf(d, sizeof d, "%dx%d", w.ws_row, w.ws_col);
    check(w.ws_row == 33 && w.ws_col == 101, "A-winsize", d);
    if (write(reply_from_child[1], "d", 1) != 1) exit(1);
}

/* The child: leader of a session whose terminal is A's slave; its child's group is the foreground group. */
static void child(const char *slave_name)
{
    setsid();
    int s = open(slave_name, O_RDWR);   /* no O_NOCTTY: it becomes the controlling terminal */
    if (s < 0) { perror("SETUP-FAIL open slave"); exit(1); }
    if (dup2(s, 10) < 0) exit(1);
    close(s);
    s = 10;
    struct termios t;
    tcgetattr(s, &t);
    t.c_cc[VEOL] = '%';
    t.c_lflag &= ~ECHOCTL;
    tcsetattr(s, TCSANOW, &t);
    struct winsize w = {33, 101, 0, 0};
    ioctl(s, TIOCSWINSZ, &w);
    pid_t leader = getpid();
    int ready[2];
    if (pipe(ready) < 0) exit(1);
    pid_t g = fork();
    if (g == 0) {
        setpgid(0, 0);
        char c;
        if (read(ready[0], &c, 1) != 1) _exit(1);
        close(ready[0]);
        close(ready[1]);
        while (read(cmd_to_child[0], &c, 1) == 1) {
            if (c == 'q') _exit(0);
            if (c == 'v') grandchild_checks(s, leader);
        }
        _exit(0);
    }
    setpgid(g, g);
    signal(SIGTTOU, SIG_IGN);
    if (tcsetpgrp(s, g) < 0) { perror("SETUP-FAIL tcsetpgrp"); exit(1); }
    if (write(ready[1], "r", 1) != 1) exit(1);
    close(ready[0]);
    close(ready[1]);
    if (write(s, "from slave\n", 11) != 11) exit(1);
    char gs[32];
    int n = snprintf(gs, sizeof gs, "%d\n", g);
    if (write(reply_from_child[1], gs, n) != n) exit(1);
    while (waitpid(g, NULL, 0) < 0 && errno == EINTR) {
    }
    _exit(0);
}

static void verify(void)
{
    fails = 0;
    char buf[8192], c;
    int n, lock = -1, pkt = -1;
    /* A: the master's queue first (the child's checks echo more) */
    n = drain(ma, buf, sizeof buf, 2000);
    const char *want = "from slave\r\nline one\r\neoflineabc%partial";
    expect_bytes("A-master-output", buf, n, want, strlen(want));
    if (write(cmd_to_child[1], "v", 1) != 1) exit(1);
    if (read(reply_from_child[0], &c, 1) != 1 || c != 'p') { check(0, "A-child", "no answer"); return; }
    if (write(ma, " more\n", 6) != 6) exit(1);
    if (read(reply_from_child[0], &c, 1) != 1 || c != 'd') { check(0, "A-child", "no answer"); return; }
    drain(ma, buf, sizeof buf, 300);   /* the echo of " more\n" */
    /* B: locked, packet mode, then opened and used */
    ioctl(mb, TIOCGPTLCK, &lock);
    ioctl(mb, TIOCGPKT, &pkt);
    check(lock == 1, "B-locked", "not locked");
    check(pkt == 1, "B-packet-mode", "off");
    unlockpt(mb);
    int sb = open(ptsname(mb), O_RDWR | O_NOCTTY);
    check(sb >= 0, "B-slave-opens", strerror(errno));
    if (sb >= 0) {
        struct termios t;
        tcgetattr(sb, &t);
        t.c_oflag &= ~OPOST;
        tcsetattr(sb, TCSANOW, &t);
        drain(mb, buf, sizeof buf, 100);   /* any status byte the change made */
        if (write(sb, "x", 1) != 1) exit(1);
        n = drain(mb, buf, sizeof buf, 2000);
        expect_bytes("B-packet-data", buf, n, "\0x", 2);
        close(sb);
    }
    /* C: raw input and packet output, exactly */
    n = drain(sc, buf, sizeof buf, 2000);
    expect_bytes("C-slave-input", buf, n, "raw\rdata", 8);
    n = drain(mc, buf, sizeof buf, 2000);
    expect_bytes("C-master-output", buf, n, "\0out\n", 5);
    /* put everything back as it was for the next verify */
    lock = 1;
    ioctl(mb, TIOCSPTLCK, &lock);
    if (write(mc, "raw\rdata", 8) != 8 || write(sc, "out\n", 4) != 4) exit(1);
    printf("DONE %d\n", fails);
    fflush(stdout);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (pipe(cmd_to_child) < 0 || pipe(reply_from_child) < 0) return 1;
    ma = open_master(1);
    char slave_name[64];
    snprintf(slave_name, sizeof slave_name, "%s", ptsname(ma));
    pid_t ch = fork();
    if (ch == 0) child(slave_name);
    char gs[32] = {0};
    int n = read(reply_from_child[0], gs, sizeof gs - 1);
    if (n <= 0) { printf("SETUP-FAIL child\n"); return 1; }
    /* the slave's output is there; now the input */
    if (write(ma, "line one\n", 9) != 9 || write(ma, "eofline\004", 8) != 8 || write(ma, "abc%", 4) != 4
        || write(ma, "partial", 7) != 7) return 1;
    mb = open_master(0);
    int on = 1;
    ioctl(mb, TIOCPKT, &on);
    mc = open_master(1);
    sc = open(ptsname(mc), O_RDWR | O_NOCTTY);
    struct termios t;
    tcgetattr(sc, &t);
    cfmakeraw(&t);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    tcsetattr(sc, TCSANOW, &t);
    ioctl(mc, TIOCPKT, &on);
    if (write(mc, "raw\rdata", 8) != 8 || write(sc, "out\n", 4) != 4) return 1;
    printf("READY %d %d %s", getpid(), ch, gs);
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "verify", 6)) verify();
        else if (!strncmp(line, "quit", 4)) {
            if (write(cmd_to_child[1], "q", 1) != 1) return 1;
            waitpid(ch, NULL, 0);
            printf("BYE\n");
            return 0;
        }
    }
    return 0;
}
