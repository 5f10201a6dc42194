/*
 * cryo test fixture: process groups and a session that outlive their leaders. The root is a child
 * subreaper, so the orphans of its tree stay its children.
 *
 *   M   in process group L, whose leader L exited and was reaped
 *   N   in process group Z, whose leader Z is a zombie (exit 7) the root has not reaped
 *   T   in session S (and group S), whose leader S called setsid(), forked T and exited (reaped); T was
 *       reparented to the root
 *
 * Protocol (root's stdin/stdout):
 *   at start   READY <root> <L> <M> <Z> <N> <S> <T>   (or FAIL <what>)
 *   check      the root checks pgid and sid of M, N, T, that Z is still its zombie child, and that L and S
 *              are gone; prints FAIL lines then OK or FAILED
 *   quit       kills M, N and T, reaps them and Z; prints "BYE <Z's exit code>" and exits 0
 *
 * Build: gcc -O1 -Wall -o groups groups.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void fail(const char *what) {
    printf("FAIL %s: %s\n", what, strerror(errno));
    exit(1);
}

static void rest(void) {
    for (;;) pause();
}

/* waits for one byte (or an int) on p[0] */
static int get(int fd) {
    int v;
    if (read(fd, &v, sizeof v) != sizeof v) fail("read");
    return v;
}

static void put(int fd, int v) {
    if (write(fd, &v, sizeof v) != sizeof v) fail("write");
}

static char state_of(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *c = strrchr(buf, ')');
    return c && c[1] && c[2] ? c[2] : '?';
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) fail("PR_SET_CHILD_SUBREAPER");
    int p[2], go[2];
    if (pipe(p) || pipe(go)) fail("pipe");
    pid_t L = fork();
    if (L == 0) {
        if (setpgid(0, 0)) fail("setpgid L");
        put(p[1], 1);
        rest();
    }
    get(p[0]);
    pid_t M = fork();
    if (M == 0) {
        if (setpgid(0, L)) fail("setpgid M");
        put(p[1], 1);
        rest();
    }
    get(p[0]);
    kill(L, SIGKILL);
    if (waitpid(L, NULL, 0) != L) fail("waitpid L");

    pid_t Z = fork();
    if (Z == 0) {
        if (setpgid(0, 0)) fail("setpgid Z");
        put(p[1], 1);
        if (get(go[0]) != 2) fail("Z's go");
        _exit(7);
    }
    get(p[0]);
    pid_t N = fork();
    if (N == 0) {
        if (setpgid(0, Z)) fail("setpgid N");
        put(p[1], 1);
        rest();
    }
    get(p[0]);
    put(go[1], 2);   /* Z reads it and exits */
    while (state_of(Z) != 'Z') usleep(1000);

    pid_t S = fork();
    if (S == 0) {
        if (setsid() < 0) fail("setsid");
        pid_t t = fork();
        if (t == 0) rest();
        put(p[1], t);
        _exit(0);
    }
    pid_t T = get(p[0]);
    if (waitpid(S, NULL, 0) != S) fail("waitpid S");
    printf("READY %d %d %d %d %d %d %d\n", getpid(), L, M, Z, N, S, T);

    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "check", 5) == 0) {
            int bad = 0;
#define EXPECT(cond, ...) do { if (!(cond)) { bad++; printf("FAIL " __VA_ARGS__); printf("\n"); } } while (0)
            EXPECT(getpgid(M) == L, "M's group %d, not %d", getpgid(M), L);
            EXPECT(getsid(M) == getsid(0), "M's session %d", getsid(M));
            EXPECT(getpgid(N) == Z, "N's group %d, not %d", getpgid(N), Z);
            EXPECT(getpgid(T) == S, "T's group %d, not %d", getpgid(T), S);
            EXPECT(getsid(T) == S, "T's session %d, not %d", getsid(T), S);
            EXPECT(state_of(Z) == 'Z', "Z is in state %c", state_of(Z));
            EXPECT(state_of(L) == '?', "pid %d (L) exists", L);
            EXPECT(state_of(S) == '?', "pid %d (S) exists", S);
            printf(bad ? "FAILED %d\n" : "OK\n", bad);
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        }
    }
    kill(M, SIGTERM);
    kill(N, SIGTERM);
    kill(T, SIGTERM);
    int st, code = -1;
    waitpid(M, NULL, 0);
    waitpid(N, NULL, 0);
    waitpid(T, NULL, 0);
    if (waitpid(Z, &st, 0) == Z && WIFEXITED(st)) code = WEXITSTATUS(st);
    printf("BYE %d\n", code);
    return 0;
}
