/*
 * cryo test fixture: a tree of tasks of several users.
 *
 *   root (uid 0) ─┬─ nobody   started with setpriv --reuid/--regid 65534 --clear-groups; lowers its
 *                 │           RLIMIT_NOFILE to {64, 128} and RLIMIT_CORE to {0, 1 MiB}; forks:
 *                 │    ├─ nobody-child (uid 65534, inherits all that)
 *                 │    └─ nobody-zombie (exited 3, not reaped)
 *                 ├─ mixed    groups {5,6,7}; gids real 1001 effective 1002 saved 1003 fs 1001;
 *                 │           uids real 2001 effective 2002 saved 2003 fs 2003 (no capabilities left,
 *                 │           not dumpable)
 *                 └─ caps     uid 3001 keeping CAP_NET_BIND_SERVICE (permitted, effective, inheritable,
 *                             ambient) and CAP_NET_RAW, CAP_KILL permitted; CAP_SYS_BOOT dropped from the
 *                             bounding set; securebits KEEP_CAPS; no_new_privs; dumpable again
 *
 * The children wait in pause(). Each tells the root it is set up by writing a byte to a pipe.
 *
 * Protocol (root's stdin/stdout):
 *   at start   READY <root> <nobody> <nobody-child> <mixed> <caps> <nobody-zombie>   (or FAIL <what>)
 *   quit       the root kills its children with SIGTERM, reaps them, prints BYE and exits 0
 *
 * Build: gcc -O1 -Wall -o creds creds.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void fail(const char *what) {
    printf("FAIL %s: %s\n", what, strerror(errno));
    exit(1);
}

static void up_and_wait(int up) {
    if (write(up, "x", 1) != 1) fail("write up");
    close(up);
    for (;;) pause();
}

static void capset3(unsigned long long eff, unsigned long long prm, unsigned long long inh) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2] = {{eff, prm, inh}, {eff >> 32, prm >> 32, inh >> 32}};
    if (syscall(SYS_capset, &h, d)) fail("capset");
}

/* the setpriv'ed child: runs as nobody */
static int nobody(int up) {
    struct rlimit nofile = {64, 128}, core = {0, 1 << 20};
    if (setrlimit(RLIMIT_NOFILE, &nofile) || setrlimit(RLIMIT_CORE, &core)) fail("setrlimit");
    int p[2];
    if (pipe(p)) fail("pipe");
    pid_t c = fork();
    if (c < 0) fail("fork");
    if (c == 0) {
        close(p[0]);
        close(up);
        up_and_wait(p[1]);
    }
    close(p[1]);
    char b;
    if (read(p[0], &b, 1) != 1) fail("read nobody-child");
    close(p[0]);
    pid_t z = fork();
    if (z < 0) fail("fork");
    if (z == 0) _exit(3);
    siginfo_t si;
    if (waitid(P_PID, z, &si, WEXITED | WNOWAIT)) fail("waitid");
    /* tell the root the grandchildren's pids: "<child> <zombie>\n", then "x" */
    char msg[32];
    int n = snprintf(msg, sizeof msg, "%d %d\n", c, z);
    if (write(up, msg, n) != n) fail("write pid");
    up_and_wait(up);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "nobody") == 0) return nobody(atoi(argv[2]));
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t kids[4];
    int up[2];
    if (pipe(up)) fail("pipe");
    /* nobody, through setpriv */
    pid_t c = fork();
    if (c == 0) {
        close(up[0]);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", up[1]);
        execlp("setpriv", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", argv[0], "nobody", fd, (char *)NULL);
        fail("exec setpriv");
    }
    kids[0] = c;
    /* mixed ids */
    c = fork();
    if (c == 0) {
        close(up[0]);
        gid_t groups[] = {5, 6, 7};
        if (setgroups(3, groups)) fail("setgroups");
        if (setresgid(1001, 1002, 1003)) fail("setresgid");
        setfsgid(1001);
        if (setresuid(2001, 2002, 2003)) fail("setresuid");
        setfsuid(2003);
        up_and_wait(up[1]);
    }
    kids[2] = c;
    /* capabilities kept through a uid change */
    c = fork();
    if (c == 0) {
        close(up[0]);
        unsigned long long bind = 1ULL << CAP_NET_BIND_SERVICE, raw = 1ULL << CAP_NET_RAW, kill = 1ULL << CAP_KILL;
        if (prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0)) fail("PR_CAPBSET_DROP");
        if (setgroups(0, NULL)) fail("setgroups");
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)) fail("PR_SET_KEEPCAPS");
        if (setresgid(3001, 3001, 3001) || setresuid(3001, 3001, 3001)) fail("setres[ug]id");
        capset3(bind, bind | raw | kill, bind | raw);
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0)) fail("PR_CAP_AMBIENT_RAISE");
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) fail("PR_SET_NO_NEW_PRIVS");
        if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)) fail("PR_SET_DUMPABLE");
        up_and_wait(up[1]);
    }
    kids[3] = c;
    close(up[1]);
    /* three bytes "x" (nobody, mixed, caps), and the nobody child's line with the grandchild's pid */
    char buf[64];
    int got = 0, xs = 0, nl = 0;
    while (xs < 3 || !nl) {
        char b;
        ssize_t r = read(up[0], &b, 1);
        if (r <= 0) fail("read up");
        if (b == 'x') xs++;
        else if (b == '\n') nl = 1;
        else if (got < (int)sizeof buf - 1) buf[got++] = b;
    }
    buf[got] = 0;
    int zombie;
    if (sscanf(buf, "%d %d", &kids[1], &zombie) != 2) fail("grandchildren's pids");
    close(up[0]);
    printf("READY %d %d %d %d %d %d\n", getpid(), kids[0], kids[1], kids[2], kids[3], zombie);
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "quit", 4) == 0) break;
    }
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        if (i == 1) continue;   /* the nobody child kills its own child: below */
        kill(kids[i], SIGTERM);
    }
    kill(kids[1], SIGTERM);
    for (int i = 0; i < 4; i++) {
        if (i == 1) continue;
        int st;
        if (waitpid(kids[i], &st, 0) != kids[i] || !WIFSIGNALED(st) || WTERMSIG(st) != SIGTERM) bad++;
    }
    printf("BYE %d\n", bad);
    return bad != 0;
}
