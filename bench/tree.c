/*
 * tree: process-tree targets for bench/run.sh (modes tree50 and pipes200; tree8
 * runs bench/memhog under a bash parent instead).
 *
 *   tree pause N
 *   tree pipes NPIPES BYTES RESULT_FILE
 *   tree ghost DIR MIB RESULT_FILE
 *
 * pause: the process forks N-1 children; every one of the N processes then sits
 *        in pause() forever. Once all children are in place (each has reported
 *        through a pipe that is closed again before "READY") the parent prints
 *            READY pid=<parent> children=<pid>,<pid>,...
 *        SIGUSR1 to any of the N processes makes it write "ALIVE <pid>\n" to its
 *        stdout (one write(2) of one line), so the caller can tell that every
 *        process runs again after a restart.
 *
 * pipes: the process creates NPIPES pipes (raising RLIMIT_NOFILE if needed) and
 *        fills each with exactly BYTES bytes (at most the pipe's capacity, 64 KiB
 *        by default), then forks one child. The parent keeps only the write ends,
 *        the child only the read ends, and both pause() forever. Each byte follows
 *        a pattern of (pipe number, stream offset), so a byte that is lost,
 *        duplicated, moved or put into the wrong pipe shows as a mismatch. When
 *        both are in place the parent prints
 *            READY pid=<parent> child=<child> pipes=<n> bytes=<per pipe>
 *        SIGUSR1 to the child: it checks every read end (FIONREAD must be BYTES,
 *        then exactly BYTES bytes of the pattern, then EAGAIN: no more data and no
 *        EOF, since the parent still holds the write end) and writes one line to
 *        RESULT_FILE (through RESULT_FILE.tmp and rename):
 *            OK pipes=<n> bytes=<total> pid=<pid> ms=<time>
 *            BAD badpipes=<k> first_bad_pipe=<i> fionread=<n> read=<n> mismatch_at=<o|-> end=<EAGAIN|EOF|errno> ...
 *        The check reads the data, so it can be done once.
 *        SIGUSR2 to the child: reads one byte out of pipe 0 (to test the checker).
 *
 * ghost: the process writes MIB MiB of a pattern of the file offset into a new file of
 *        DIR, keeps it open at fd 3 and unlinks it (a ghost file), then prints
 *            READY pid=<pid> bytes=<n>
 *        SIGUSR1: it checks that fd 3 has no name left (nlink 0), is n bytes long and
 *        holds the pattern, and writes one line to RESULT_FILE (as pipes does):
 *            OK ghost bytes=<n> pid=<pid> ms=<time>
 *            BAD ghost nlink=<k> size=<n> mismatch_at=<o|-> pid=<pid>
 *        SIGUSR2: changes one byte of the file (to test the checker).
 *
 * As in memhog, the work is done inside the signal handlers with async-signal-safe
 * calls only, and the processes keep no descriptor besides 0-2 and the pipes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- async-signal-safe formatting (as in memhog.c) ---- */
static size_t put_str(char *buf, size_t pos, const char *s) {
    while (*s)
        buf[pos++] = *s++;
    return pos;
}
static size_t put_dec(char *buf, size_t pos, uint64_t v) {
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        buf[pos++] = tmp[--n];
    return pos;
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void pause_forever(void) {
    for (;;)
        pause();
}

/* ------------------------------------------------------------------ pause */
static void on_usr1_alive(int sig) {
    (void)sig;
    int saved_errno = errno;
    char line[64];
    size_t n = put_str(line, 0, "ALIVE ");
    n = put_dec(line, n, (uint64_t)getpid());
    line[n++] = '\n';
    write(1, line, n); /* one write: lines of several processes never mix */
    errno = saved_errno;
}

static int run_pause(long n) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_usr1_alive;
    sigaction(SIGUSR1, &sa, NULL); /* inherited by the children */

    int rp[2];
    if (pipe(rp) < 0) {
        perror("tree: pipe");
        return 1;
    }
    pid_t *kids = calloc((size_t)n, sizeof(pid_t));
    if (!kids)
        return 1;
    for (long i = 0; i < n - 1; i++) {
        pid_t c = fork();
        if (c < 0) {
            perror("tree: fork");
            for (long j = 0; j < i; j++) /* the caller does not know them yet */
                kill(kids[j], SIGKILL);
            return 1;
        }
        if (c == 0) {
            close(rp[0]);
            write(rp[1], "x", 1);
            close(rp[1]);
            pause_forever();
        }
        kids[i] = c;
    }
    close(rp[1]);
    long got = 0;
    char buf[256];
    while (got < n - 1) {
        ssize_t r = read(rp[0], buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr, "tree: only %ld of %ld children reported\n", got, n - 1);
            for (long j = 0; j < n - 1; j++)
                kill(kids[j], SIGKILL);
            return 1;
        }
        got += r;
    }
    close(rp[0]);
    printf("READY pid=%d children=", (int)getpid());
    for (long i = 0; i < n - 1; i++)
        printf("%s%d", i ? "," : "", (int)kids[i]);
    printf("\n");
    fflush(stdout);
    free(kids);
    pause_forever();
    return 0;
}

/* ------------------------------------------------------------------ pipes */
static int npipes;
static long pipe_bytes;
static int *rfd, *wfd;
static char result_path[4096];
static char result_tmp[4100];

/* the byte at stream offset o of pipe i */
static inline unsigned char pat(uint64_t i, uint64_t o) {
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ (o >> 3) * 0xC2B2AE3D27D4EB4Full;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return (unsigned char)(x >> ((o & 7) * 8));
}

static void on_usr1_pipes(int sig) {
    (void)sig;
    int saved_errno = errno;
    uint64_t t0 = now_ms();
    static unsigned char buf[65536];
    long badpipes = 0, first_bad = -1, f_fionread = 0, f_read = 0;
    long long f_mismatch = -1;
    int f_end = 0; /* errno at the end of the first bad pipe; 0 = EOF */
    uint64_t total = 0;

    for (int i = 0; i < npipes; i++) {
        int fd = rfd[i], avail = -1, end = 0;
        long nread = 0;
        long long mismatch = -1;
        if (ioctl(fd, FIONREAD, &avail) < 0)
            avail = -1;
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        for (;;) {
            ssize_t r = read(fd, buf, sizeof(buf));
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                end = errno;
                break;
            }
            if (r == 0) {
                end = 0;
                break;
            }
            for (ssize_t k = 0; k < r; k++)
                if (mismatch < 0 && buf[k] != pat((uint64_t)i, (uint64_t)(nread + k)))
                    mismatch = nread + k;
            nread += r;
        }
        total += (uint64_t)nread;
        if (avail != pipe_bytes || nread != pipe_bytes || mismatch >= 0 || end != EAGAIN) {
            if (!badpipes) {
                first_bad = i;
                f_fionread = avail;
                f_read = nread;
                f_mismatch = mismatch;
                f_end = end;
            }
            badpipes++;
        }
    }
    uint64_t t1 = now_ms();

    char line[512];
    size_t n = 0;
    if (badpipes == 0) {
        n = put_str(line, n, "OK pipes=");
        n = put_dec(line, n, (uint64_t)npipes);
        n = put_str(line, n, " bytes=");
        n = put_dec(line, n, total);
    } else {
        n = put_str(line, n, "BAD badpipes=");
        n = put_dec(line, n, (uint64_t)badpipes);
        n = put_str(line, n, " first_bad_pipe=");
        n = put_dec(line, n, (uint64_t)first_bad);
        n = put_str(line, n, " fionread=");
        n = f_fionread < 0 ? put_str(line, n, "-1") : put_dec(line, n, (uint64_t)f_fionread);
        n = put_str(line, n, " read=");
        n = put_dec(line, n, (uint64_t)f_read);
        n = put_str(line, n, " mismatch_at=");
        n = f_mismatch < 0 ? put_str(line, n, "-") : put_dec(line, n, (uint64_t)f_mismatch);
        n = put_str(line, n, " end=");
        if (f_end == 0)
            n = put_str(line, n, "EOF");
        else if (f_end == EAGAIN)
            n = put_str(line, n, "EAGAIN");
        else
            n = put_dec(line, n, (uint64_t)f_end);
        n = put_str(line, n, " expected=");
        n = put_dec(line, n, (uint64_t)pipe_bytes);
        n = put_str(line, n, " pipes=");
        n = put_dec(line, n, (uint64_t)npipes);
    }
    n = put_str(line, n, " pid=");
    n = put_dec(line, n, (uint64_t)getpid());
    n = put_str(line, n, " ms=");
    n = put_dec(line, n, t1 - t0);
    line[n++] = '\n';

    int fd = open(result_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        write_all(fd, line, n);
        close(fd);
        rename(result_tmp, result_path);
    }
    errno = saved_errno;
}

static void on_usr2_pipes(int sig) {
    (void)sig;
    int saved_errno = errno;
    char c;
    int fl = fcntl(rfd[0], F_GETFL);
    fcntl(rfd[0], F_SETFL, fl | O_NONBLOCK);
    read(rfd[0], &c, 1);
    fcntl(rfd[0], F_SETFL, fl);
    errno = saved_errno;
}

static int run_pipes(int n, long bytes, const char *result) {
    if (strlen(result) >= sizeof(result_path)) {
        fprintf(stderr, "tree: result path too long\n");
        return 2;
    }
    strcpy(result_path, result);
    strcpy(result_tmp, result_path);
    strcat(result_tmp, ".tmp");
    npipes = n;
    pipe_bytes = bytes;

    /* 2 fds per pipe, 0-2, and the readiness pipe */
    struct rlimit rl;
    rlim_t need = (rlim_t)n * 2 + 16;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        perror("tree: getrlimit");
        return 1;
    }
    if (rl.rlim_cur < need) {
        rl.rlim_cur = need;
        if (rl.rlim_max < need)
            rl.rlim_max = need; /* needs CAP_SYS_RESOURCE: we run as root */
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            perror("tree: setrlimit(RLIMIT_NOFILE)");
            return 1;
        }
    }

    rfd = calloc((size_t)n, sizeof(int));
    wfd = calloc((size_t)n, sizeof(int));
    if (!rfd || !wfd)
        return 1;
    static unsigned char chunk[4096];
    for (int i = 0; i < n; i++) {
        int p[2];
        if (pipe(p) < 0) {
            perror("tree: pipe");
            return 1;
        }
        rfd[i] = p[0];
        wfd[i] = p[1];
        int cap = fcntl(p[1], F_GETPIPE_SZ);
        if (cap < bytes && fcntl(p[1], F_SETPIPE_SZ, (int)bytes) < 0) {
            perror("tree: F_SETPIPE_SZ");
            return 1;
        }
        /* fill without ever blocking: every byte must fit */
        int fl = fcntl(p[1], F_GETFL);
        fcntl(p[1], F_SETFL, fl | O_NONBLOCK);
        long off = 0;
        while (off < bytes) {
            long len = bytes - off < (long)sizeof(chunk) ? bytes - off : (long)sizeof(chunk);
            for (long k = 0; k < len; k++)
                chunk[k] = pat((uint64_t)i, (uint64_t)(off + k));
            ssize_t w = write(p[1], chunk, (size_t)len);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                fprintf(stderr, "tree: pipe %d takes only %ld of %ld bytes: %s\n", i, off, bytes,
                        w < 0 ? strerror(errno) : "short write");
                return 1;
            }
            off += w;
        }
        fcntl(p[1], F_SETFL, fl);
    }

    int rp[2];
    if (pipe(rp) < 0) {
        perror("tree: pipe");
        return 1;
    }
    pid_t c = fork();
    if (c < 0) {
        perror("tree: fork");
        return 1;
    }
    if (c == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sigemptyset(&sa.sa_mask);
        sigaddset(&sa.sa_mask, SIGUSR1);
        sigaddset(&sa.sa_mask, SIGUSR2);
        sa.sa_flags = SA_RESTART;
        sa.sa_handler = on_usr1_pipes;
        sigaction(SIGUSR1, &sa, NULL);
        sa.sa_handler = on_usr2_pipes;
        sigaction(SIGUSR2, &sa, NULL);
        for (int i = 0; i < n; i++)
            close(wfd[i]);
        close(rp[0]);
        write(rp[1], "x", 1);
        close(rp[1]);
        pause_forever();
    }
    for (int i = 0; i < n; i++)
        close(rfd[i]);
    close(rp[1]);
    char x;
    ssize_t r;
    do
        r = read(rp[0], &x, 1);
    while (r < 0 && errno == EINTR);
    close(rp[0]);
    if (r != 1) {
        fprintf(stderr, "tree: the pipes child did not report\n");
        kill(c, SIGKILL);
        return 1;
    }
    printf("READY pid=%d child=%d pipes=%d bytes=%ld\n", (int)getpid(), (int)c, n, bytes);
    fflush(stdout);
    pause_forever();
    return 0;
}

/* ------------------------------------------------------------------ ghost */
static long ghost_bytes;

static inline uint64_t ghost_word(uint64_t off) {
    uint64_t z = off + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void on_usr1_ghost(int sig) {
    (void)sig;
    static uint64_t buf[1 << 17];   /* 1 MiB */
    int saved = errno;
    uint64_t t0 = now_ms();
    struct stat st;
    long nlink = -1, size = -1, bad = -1;
    if (fstat(3, &st) == 0) nlink = (long)st.st_nlink, size = (long)st.st_size;
    for (long off = 0; bad < 0 && off < ghost_bytes; off += sizeof buf) {
        ssize_t r = pread(3, buf, sizeof buf, off);
        if (r != (ssize_t)sizeof buf) { bad = off; break; }
        for (size_t i = 0; i < sizeof buf / 8; i++)
            if (buf[i] != ghost_word((uint64_t)off / 8 + i)) { bad = off + (long)i * 8; break; }
    }
    char line[256];
    size_t n = 0;
    if (nlink == 0 && size == ghost_bytes && bad < 0) {
        n = put_str(line, n, "OK ghost bytes=");
        n = put_dec(line, n, (uint64_t)ghost_bytes);
        n = put_str(line, n, " pid=");
        n = put_dec(line, n, (uint64_t)getpid());
        n = put_str(line, n, " ms=");
        n = put_dec(line, n, now_ms() - t0);
    } else {
        n = put_str(line, n, "BAD ghost nlink=");
        n = put_dec(line, n, (uint64_t)(nlink < 0 ? 0 : nlink));
        n = put_str(line, n, " size=");
        n = put_dec(line, n, (uint64_t)(size < 0 ? 0 : size));
        n = put_str(line, n, " mismatch_at=");
        n = bad < 0 ? put_str(line, n, "-") : put_dec(line, n, (uint64_t)bad);
        n = put_str(line, n, " pid=");
        n = put_dec(line, n, (uint64_t)getpid());
    }
    n = put_str(line, n, "\n");
    int fd = open(result_tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        write_all(fd, line, n);
        close(fd);
        rename(result_tmp, result_path);
    }
    errno = saved;
}

static void on_usr2_ghost(int sig) {
    (void)sig;
    char c = 0x5a;
    ssize_t r = pwrite(3, &c, 1, ghost_bytes / 2);
    (void)r;
}

static int run_ghost(const char *dir, long mib, const char *result) {
    ghost_bytes = mib << 20;
    snprintf(result_path, sizeof result_path, "%s", result);
    snprintf(result_tmp, sizeof result_tmp, "%s.tmp", result);
    char path[4096];
    snprintf(path, sizeof path, "%s/cryo-bench-ghost.%d", dir, (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || unlink(path) != 0) {
        fprintf(stderr, "tree: %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (fd != 3) {
        if (dup2(fd, 3) != 3) return 1;
        close(fd);
    }
    static uint64_t buf[1 << 17];
    for (long off = 0; off < ghost_bytes; off += sizeof buf) {
        for (size_t i = 0; i < sizeof buf / 8; i++) buf[i] = ghost_word((uint64_t)off / 8 + i);
        if (pwrite(3, buf, sizeof buf, off) != (ssize_t)sizeof buf) {
            fprintf(stderr, "tree: writing the ghost file: %s\n", strerror(errno));
            return 1;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigaddset(&sa.sa_mask, SIGUSR1);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sa.sa_handler = on_usr1_ghost;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_usr2_ghost;
    sigaction(SIGUSR2, &sa, NULL);
    printf("READY pid=%d bytes=%ld\n", (int)getpid(), ghost_bytes);
    fflush(stdout);
    pause_forever();
    return 0;
}

int main(int argc, char **argv) {
    char *end;
    if (argc == 3 && strcmp(argv[1], "pause") == 0) {
        long n = strtol(argv[2], &end, 10);
        if (*end || n < 1 || n > 10000) {
            fprintf(stderr, "tree: bad process count '%s'\n", argv[2]);
            return 2;
        }
        return run_pause(n);
    }
    if (argc == 5 && strcmp(argv[1], "pipes") == 0) {
        long n = strtol(argv[2], &end, 10);
        if (*end || n < 1 || n > 100000) {
            fprintf(stderr, "tree: bad pipe count '%s'\n", argv[2]);
            return 2;
        }
        long bytes = strtol(argv[3], &end, 10);
        if (*end || bytes < 1 || bytes > 1048576) {
            fprintf(stderr, "tree: bad byte count '%s' (1..1048576)\n", argv[3]);
            return 2;
        }
        return run_pipes((int)n, bytes, argv[4]);
    }
    if (argc == 5 && strcmp(argv[1], "ghost") == 0) {
        long mib = strtol(argv[3], &end, 10);
        if (*end || mib < 1 || mib > 65536) {
            fprintf(stderr, "tree: bad size '%s' (MiB, 1..65536)\n", argv[3]);
            return 2;
        }
        return run_ghost(argv[2], mib, argv[4]);
    }
    fprintf(stderr, "usage: %s pause N | %s pipes NPIPES BYTES RESULT_FILE | %s ghost DIR MIB RESULT_FILE\n", argv[0], argv[0], argv[0]);
    return 2;
}
