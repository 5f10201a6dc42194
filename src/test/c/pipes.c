/*
 * cryo test fixture: pipes and FIFOs holding data, in every shape the issue
 * "Pipes and FIFOs, with the data inside them" names. The process verifies
 * itself (after a restart) when told to on stdin.
 *
 *   pipes SCENARIO...
 *
 * Scenario i (from 0) uses the fds B = 10 + 10*i and up. Each pipe's bytes follow
 * a pattern of the scenario (byte at stream offset o: pat(seed, o)), so a byte
 * lost, duplicated or moved shows as a mismatch at a known offset.
 *
 *   full      pipe, read end B and write end B+1; filled to its capacity
 *             (64 KiB) through the write end; then a child that keeps only the
 *             write end B+1 blocks writing 10000 more bytes (then exits 0); the
 *             parent closes its write end. verify: capacity 65536, FIONREAD
 *             65536, then reads exactly 65536+10000 bytes in order, then EOF, and
 *             the writer exited 0.
 *   big       pipe B/B+1 in the parent, F_SETPIPE_SZ 1 MiB, 700000 bytes in it.
 *             verify: capacity 1048576, FIONREAD 700000, the bytes, then empty;
 *             then the write end really takes ~1 MiB before EAGAIN.
 *   empty     pipe with nothing in it: a child keeps only the read end B and
 *             blocks in read(); the parent keeps the write end B+1. verify:
 *             capacity 65536, FIONREAD 0, then "ping" written reaches the child,
 *             which exits 0.
 *   noreader  pipe whose read end is closed; the parent keeps the write end B+1
 *             (SIGPIPE is ignored in the parent). verify: write gives EPIPE, and
 *             a child with SIGPIPE at its default is killed by SIGPIPE.
 *   eof       pipe whose write end is closed with 5000 bytes in it; the parent
 *             keeps the read end B. verify: FIONREAD 5000, the bytes, then read
 *             returns 0 (EOF).
 *   dup       pipe B/B+1 in the parent, the read end dup'ed to B+2 (one
 *             description), 3000 bytes in it; a child inherits B, B+1, B+2 and
 *             pauses. verify: kcmp says B and B+2 are one description, and the
 *             child's B, B+1, B+2 are the parent's; O_NONBLOCK set through B shows
 *             on B+2 and on the child's B+2; 1000 bytes read through B, the next
 *             2000 through B+2, then EAGAIN.
 *   nonblock  pipe B/B+1 in the parent, O_NONBLOCK on the write end only, 100
 *             bytes in it. verify: the flag is on B+1 and not on B; the write end
 *             fills up to EAGAIN (never blocks); every byte reads back in order.
 *   fifo:PATH a FIFO (PATH made by the caller) between the parent (reader, fd B)
 *             and a child (writer, fd B+1), 3000 bytes in it; the child pauses.
 *             verify: B is PATH (same inode, readlink), O_RDONLY in the parent and
 *             O_WRONLY in the child, FIONREAD 3000, the bytes, then no data and no
 *             EOF while the child lives; after the child is killed, EOF (nobody
 *             else, e.g. cryo, still holds a write end).
 *   outside:N a pipe whose read end a child holds at fd N (N may be 0), reading
 *             lines and printing "GOT <line>" (or "EOF" at end of file, then it
 *             exits); the parent keeps the write end at B+1. Checkpointing the
 *             child alone leaves the parent, outside the tree, holding the other
 *             end. verify: nothing (OK).
 *
 * Prints "SETUP <scenario> <B> <child pid or 0>" per scenario, then
 * "READY <pid>". Commands on stdin (one per line):
 *   verify     runs every scenario's check once (it consumes the data): prints
 *              "OK <scenario>" or "FAIL <scenario>: <what>" per scenario, then
 *              "DONE <number of failures>"
 *   send TEXT  writes "TEXT\n" into the write end of the outside:N pipe; prints
 *              "SENT 1" (or "SENT 0" when the write failed)
 *   reap       waits (bounded) for every child to end (e.g. after cryo took a
 *              child alone and killed it): "REAPED <pid> <wait status>" each,
 *              "REAPED <pid> -1" for one that did not end, then "REAPED-ALL"
 *   quit       kills the children (SIGKILL), reaps them, prints "BYE" and exits 0
 *   EOF on stdin: as quit.
 * Setup problems print "SETUP-FAIL <what>" and exit 2.
 *
 * Build: gcc -O1 -Wall -o pipes pipes.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef KCMP_FILE
#define KCMP_FILE 0
#endif
#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#define F_GETPIPE_SZ 1032
#endif

#define MAXS 16
#define FULL_EXTRA 10000
#define BIG_SIZE (1 << 20)
#define BIG_FILL 700000
#define EOF_BYTES 5000
#define DUP_BYTES 3000
#define NB_BYTES 100
#define FIFO_BYTES 3000
#define TIMEOUT_MS 15000

struct scen {
    char name[32];
    char arg[PATH_MAX];
    int base;
    int seed;
    pid_t child;
};
static struct scen sc[MAXS];
static int nsc;
static char why[1024];

static unsigned char pat(int seed, long off) {
    uint32_t x = (uint32_t)off * 2654435761u + (uint32_t)seed * 40503u + 12345u;
    x ^= x >> 15;
    x *= 2246822519u;
    x ^= x >> 13;
    return (unsigned char)(x & 0xff);
}

static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return -1;
}

static void die(const char *fmt, ...) {
    char b[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    printf("SETUP-FAIL %s (errno %d %s)\n", b, errno, strerror(errno));
    fflush(stdout);
    exit(2);
}

static void close_from(int lowest) {
    if (syscall(SYS_close_range, (unsigned)lowest, ~0U, 0) == 0) return;
    for (int fd = lowest; fd < 4096; fd++) close(fd);
}

/* Closes every fd >= 3 that is not in keep (for a child right after fork). */
static void keep_only(const int *keep, int n) {
    for (int fd = 3; fd < 1024; fd++) {
        int k = 0;
        for (int i = 0; i < n; i++)
            if (keep[i] == fd) k = 1;
        if (!k) close(fd);
    }
}

static void move_fd(int fd, int to) {
    if (fd == to) return;
    if (dup2(fd, to) != to) die("dup2 %d -> %d", fd, to);
    close(fd);
}

static void mkpipe(int base) {
    int p[2];
    if (pipe(p) != 0) die("pipe");
    move_fd(p[0], base);
    move_fd(p[1], base + 1);
}

static int getfl(int fd) {
    return fcntl(fd, F_GETFL);
}

static int setnonblock(int fd, int on) {
    int fl = getfl(fd);
    if (fl < 0) return -1;
    return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

static long fionread(int fd) {
    int n = -1;
    if (ioctl(fd, FIONREAD, &n) != 0) return -1;
    return n;
}

/* Writes n pattern bytes from stream offset off (blocking or not, as the description is); the count written. */
static long write_pattern(int fd, int seed, long off, long n, int stop_at_eagain) {
    unsigned char buf[4096];
    long done = 0;
    while (done < n) {
        long k = n - done < (long)sizeof buf ? n - done : (long)sizeof buf;
        for (long i = 0; i < k; i++) buf[i] = pat(seed, off + done + i);
        ssize_t w = write(fd, buf, k);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN && stop_at_eagain) return done;
            return -1;
        }
        done += w;
    }
    return done;
}

/* Fills a pipe through a non-blocking write end until EAGAIN; the count written (or -1). */
static long fill(int fd, int seed, long off) {
    int fl = getfl(fd);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return -1;
    long n = write_pattern(fd, seed, off, LONG_MAX / 2, 1);
    fcntl(fd, F_SETFL, fl);
    return n;
}

/* Reads exactly n bytes and compares them with the pattern from offset off. */
static int read_expect(int fd, int seed, long off, long n) {
    static unsigned char buf[1 << 16];
    long got = 0;
    while (got < n) {
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, TIMEOUT_MS);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) return fail("fd %d: only %ld of %ld bytes arrived within %d ms", fd, got, n, TIMEOUT_MS);
        long want = n - got < (long)sizeof buf ? n - got : (long)sizeof buf;
        ssize_t k = read(fd, buf, want);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (k < 0) return fail("fd %d: read after %ld of %ld bytes: %s", fd, got, n, strerror(errno));
        if (k == 0) return fail("fd %d: EOF after %ld of %ld bytes", fd, got, n);
        for (long i = 0; i < k; i++) {
            unsigned char want_b = pat(seed, off + got + i);
            if (buf[i] != want_b)
                return fail("fd %d: byte at stream offset %ld is 0x%02x, expected 0x%02x (data lost, repeated or reordered)",
                            fd, off + got + i, buf[i], want_b);
        }
        got += k;
    }
    return 0;
}

/* Expects end of file on fd within the timeout. */
static int expect_eof(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    int r;
    while ((r = poll(&p, 1, TIMEOUT_MS)) < 0 && errno == EINTR) {
    }
    if (r == 0) return fail("fd %d: no EOF within %d ms (a write end is still open somewhere)", fd, TIMEOUT_MS);
    char c;
    ssize_t k;
    while ((k = read(fd, &c, 1)) < 0 && errno == EINTR) {
    }
    if (k > 0) return fail("fd %d: a byte more than expected (0x%02x) instead of EOF", fd, (unsigned char)c);
    if (k < 0) return fail("fd %d: read gives %s instead of EOF", fd, strerror(errno));
    return 0;
}

/* Nothing to read and no hang-up right now. */
static int expect_idle(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, 0);
    if (r < 0) return fail("fd %d: poll: %s", fd, strerror(errno));
    if (r > 0) return fail("fd %d: poll says revents 0x%x, expected nothing to read and no hang-up (FIONREAD %ld)", fd,
                           p.revents, fionread(fd));
    return 0;
}

static int kcmp_file(pid_t p1, pid_t p2, int fd1, int fd2) {
    return (int)syscall(SYS_kcmp, p1, p2, KCMP_FILE, fd1, fd2);
}

/* The "flags:" of /proc/PID/fdinfo/FD (octal), or -1. */
static long fdinfo_flags(pid_t pid, int fd) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)pid, fd);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long flags = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "flags:", 6) == 0) flags = strtol(line + 6, NULL, 8);
    fclose(f);
    return flags;
}

static int check_mode(pid_t pid, int fd, int accmode, int nonblock) {
    long fl = pid == getpid() ? getfl(fd) : fdinfo_flags(pid, fd);
    if (fl < 0) return fail("pid %d fd %d: not open (%s)", (int)pid, fd, strerror(errno));
    if ((fl & O_ACCMODE) != accmode)
        return fail("pid %d fd %d: access mode %ld, expected %d (flags 0%lo)", (int)pid, fd, fl & O_ACCMODE, accmode, fl);
    if (!!(fl & O_NONBLOCK) != nonblock)
        return fail("pid %d fd %d: O_NONBLOCK is %s, expected %s (flags 0%lo)", (int)pid, fd, fl & O_NONBLOCK ? "set" : "clear",
                    nonblock ? "set" : "clear", fl);
    return 0;
}

static int check_capacity(int fd, long want) {
    long c = fcntl(fd, F_GETPIPE_SZ);
    if (c != want) return fail("fd %d: capacity (F_GETPIPE_SZ) %ld, expected %ld", fd, c, want);
    return 0;
}

static int check_buffered(int fd, long want) {
    long n = fionread(fd);
    if (n != want) return fail("fd %d: FIONREAD says %ld bytes buffered, expected %ld", fd, n, want);
    return 0;
}

/* Waits (bounded) for a child to end; its wait status, or -1. */
static int reap(struct scen *s) {
    if (s->child <= 0) return fail("no child");
    int st = 0;
    for (int i = 0; i < TIMEOUT_MS / 10; i++) {
        pid_t r = waitpid(s->child, &st, WNOHANG);
        if (r == s->child) {
            s->child = 0;
            return st;
        }
        if (r < 0) return fail("waitpid(%d): %s", (int)s->child, strerror(errno));
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    return fail("child %d did not exit within %d ms", (int)s->child, TIMEOUT_MS);
}

static int expect_exit0(struct scen *s) {
    pid_t pid = s->child;
    int st = reap(s);
    if (st < 0 && why[0]) return -1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return fail("child %d: wait status 0x%x, expected exit 0", (int)pid, st);
    return 0;
}

static pid_t fork_child(void) {
    fflush(stdout);
    fflush(stderr);
    pid_t c = fork();
    if (c < 0) die("fork");
    return c;
}

/* ------------------------------------------------------------------ scenarios */

static void setup(struct scen *s) {
    int B = s->base;
    if (strcmp(s->name, "full") == 0) {
        mkpipe(B);
        long cap = fcntl(B, F_GETPIPE_SZ);
        long n = fill(B + 1, s->seed, 0);
        if (cap != 65536 || n != cap) die("full: capacity %ld, filled %ld", cap, n);
        s->child = fork_child();
        if (s->child == 0) {
            int keep[] = {B + 1};
            keep_only(keep, 1);
            long w = write_pattern(B + 1, s->seed, cap, FULL_EXTRA, 0); /* blocks: the pipe is full */
            _exit(w == FULL_EXTRA ? 0 : 3);
        }
        close(B + 1);
    } else if (strcmp(s->name, "big") == 0) {
        mkpipe(B);
        if (fcntl(B + 1, F_SETPIPE_SZ, BIG_SIZE) != BIG_SIZE) die("big: F_SETPIPE_SZ %d", BIG_SIZE);
        if (write_pattern(B + 1, s->seed, 0, BIG_FILL, 0) != BIG_FILL) die("big: write");
    } else if (strcmp(s->name, "empty") == 0) {
        mkpipe(B);
        s->child = fork_child();
        if (s->child == 0) {
            int keep[] = {B};
            keep_only(keep, 1);
            char buf[4];
            size_t got = 0;
            while (got < 4) {
                ssize_t k = read(B, buf + got, 4 - got); /* blocks: the pipe is empty */
                if (k < 0 && errno == EINTR) continue;
                if (k <= 0) _exit(k == 0 ? 2 : 4);
                got += k;
            }
            _exit(memcmp(buf, "ping", 4) == 0 ? 0 : 1);
        }
        close(B);
    } else if (strcmp(s->name, "noreader") == 0) {
        mkpipe(B);
        close(B);
    } else if (strcmp(s->name, "eof") == 0) {
        mkpipe(B);
        if (write_pattern(B + 1, s->seed, 0, EOF_BYTES, 0) != EOF_BYTES) die("eof: write");
        close(B + 1);
    } else if (strcmp(s->name, "dup") == 0) {
        mkpipe(B);
        if (dup2(B, B + 2) != B + 2) die("dup: dup2");
        if (write_pattern(B + 1, s->seed, 0, DUP_BYTES, 0) != DUP_BYTES) die("dup: write");
        s->child = fork_child();
        if (s->child == 0) {
            int keep[] = {B, B + 1, B + 2};
            keep_only(keep, 3);
            for (;;) pause();
        }
    } else if (strcmp(s->name, "nonblock") == 0) {
        mkpipe(B);
        if (setnonblock(B + 1, 1) != 0) die("nonblock: F_SETFL");
        if (write_pattern(B + 1, s->seed, 0, NB_BYTES, 0) != NB_BYTES) die("nonblock: write");
    } else if (strcmp(s->name, "fifo") == 0) {
        s->child = fork_child();
        if (s->child == 0) {
            keep_only(NULL, 0);
            int fd = open(s->arg, O_WRONLY); /* blocks until the parent opens the read side */
            if (fd < 0) _exit(5);
            move_fd(fd, B + 1);
            if (write_pattern(B + 1, s->seed, 0, FIFO_BYTES, 0) != FIFO_BYTES) _exit(6);
            for (;;) pause();
        }
        int fd = open(s->arg, O_RDONLY);
        if (fd < 0) die("fifo: open %s", s->arg);
        move_fd(fd, B);
        for (int i = 0; fionread(B) < FIFO_BYTES; i++) {
            if (i > 1000) die("fifo: the writer's %d bytes did not arrive (FIONREAD %ld)", FIFO_BYTES, fionread(B));
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
        }
    } else if (strcmp(s->name, "outside") == 0) {
        int n = atoi(s->arg);
        mkpipe(B);
        s->child = fork_child();
        if (s->child == 0) {
            if (n != B) {
                if (dup2(B, n) != n) _exit(7);
            }
            int keep[] = {n};
            keep_only(keep, 1);
            char line[4096];
            size_t have = 0;
            for (;;) {
                ssize_t k = read(n, line + have, sizeof line - 1 - have);
                if (k < 0 && errno == EINTR) continue;
                if (k <= 0) {
                    printf("EOF\n");
                    fflush(stdout);
                    _exit(0);
                }
                have += k;
                char *nl;
                while ((nl = memchr(line, '\n', have)) != NULL) {
                    *nl = 0;
                    printf("GOT %s\n", line);
                    fflush(stdout);
                    size_t used = nl + 1 - line;
                    memmove(line, nl + 1, have - used);
                    have -= used;
                }
                if (have >= sizeof line - 1) have = 0;
            }
        }
        close(B);
    } else {
        die("unknown scenario '%s'", s->name);
    }
}

static int verify(struct scen *s) {
    int B = s->base;
    pid_t me = getpid();
    why[0] = 0;
    if (strcmp(s->name, "full") == 0) {
        if (check_capacity(B, 65536) || check_buffered(B, 65536) || check_mode(me, B, O_RDONLY, 0)) return -1;
        if (s->child <= 0 || check_mode(s->child, B + 1, O_WRONLY, 0)) return why[0] ? -1 : fail("no writer child");
        if (fcntl(B + 1, F_GETFD) >= 0) return fail("the parent holds fd %d, which it had closed", B + 1);
        if (read_expect(B, s->seed, 0, 65536 + FULL_EXTRA) || expect_eof(B)) return -1;
        return expect_exit0(s);
    }
    if (strcmp(s->name, "big") == 0) {
        if (check_capacity(B, BIG_SIZE) || check_capacity(B + 1, BIG_SIZE) || check_buffered(B, BIG_FILL)) return -1;
        if (check_mode(me, B, O_RDONLY, 0) || check_mode(me, B + 1, O_WRONLY, 0)) return -1;
        if (read_expect(B, s->seed, 0, BIG_FILL) || expect_idle(B)) return -1;
        long n = fill(B + 1, s->seed, 0);
        if (n < BIG_SIZE - 4096 || n > BIG_SIZE)
            return fail("the write end took %ld bytes before EAGAIN: the capacity is not %d", n, BIG_SIZE);
        return read_expect(B, s->seed, 0, n) || expect_idle(B);
    }
    if (strcmp(s->name, "empty") == 0) {
        if (check_capacity(B + 1, 65536) || check_buffered(B + 1, 0) || check_mode(me, B + 1, O_WRONLY, 0)) return -1;
        if (fcntl(B, F_GETFD) >= 0) return fail("the parent holds fd %d, which it had closed", B);
        if (s->child <= 0 || check_mode(s->child, B, O_RDONLY, 0)) return why[0] ? -1 : fail("no reader child");
        if (write(B + 1, "ping", 4) != 4) return fail("write ping: %s", strerror(errno));
        return expect_exit0(s);
    }
    if (strcmp(s->name, "noreader") == 0) {
        if (check_mode(me, B + 1, O_WRONLY, 0)) return -1;
        if (fcntl(B, F_GETFD) >= 0) return fail("fd %d (the closed read end's number) is open", B);
        errno = 0;
        ssize_t w = write(B + 1, "x", 1);
        if (w != -1 || errno != EPIPE)
            return fail("write to a pipe without readers returned %zd (%s), expected -1 EPIPE", w, strerror(errno));
        pid_t c = fork_child();
        if (c == 0) {
            signal(SIGPIPE, SIG_DFL);
            (void)!write(B + 1, "x", 1);
            _exit(9);
        }
        struct scen t = *s;
        t.child = c;
        int st = reap(&t);
        if (st < 0 && why[0]) return -1;
        if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGPIPE)
            return fail("a writer with SIGPIPE at default ended with wait status 0x%x, expected death by SIGPIPE", st);
        return 0;
    }
    if (strcmp(s->name, "eof") == 0) {
        if (check_mode(me, B, O_RDONLY, 0) || check_buffered(B, EOF_BYTES)) return -1;
        if (fcntl(B + 1, F_GETFD) >= 0) return fail("fd %d (the closed write end's number) is open", B + 1);
        return read_expect(B, s->seed, 0, EOF_BYTES) || expect_eof(B);
    }
    if (strcmp(s->name, "dup") == 0) {
        if (s->child <= 0) return fail("no child");
        int r;
        if ((r = kcmp_file(me, me, B, B + 2)) != 0) return fail("fd %d and fd %d are not one description (kcmp %d)", B, B + 2, r);
        if ((r = kcmp_file(me, me, B, B + 1)) == 0) return fail("fd %d and fd %d are one description", B, B + 1);
        for (int fd = B; fd <= B + 2; fd++)
            if ((r = kcmp_file(me, s->child, fd, fd)) != 0)
                return fail("fd %d of the parent and of child %d are not one description (kcmp %d)", fd, (int)s->child, r);
        if (check_mode(me, B, O_RDONLY, 0) || check_mode(me, B + 2, O_RDONLY, 0) || check_mode(me, B + 1, O_WRONLY, 0)) return -1;
        if (check_buffered(B, DUP_BYTES)) return -1;
        if (setnonblock(B, 1) != 0) return fail("F_SETFL: %s", strerror(errno));
        if (check_mode(me, B + 2, O_RDONLY, 1) || check_mode(s->child, B + 2, O_RDONLY, 1)) return -1;
        if (read_expect(B, s->seed, 0, 1000) || read_expect(B + 2, s->seed, 1000, DUP_BYTES - 1000)) return -1;
        char c;
        errno = 0;
        ssize_t k = read(B + 2, &c, 1);
        if (k != -1 || errno != EAGAIN) return fail("read after the last byte: %zd (%s), expected EAGAIN", k, strerror(errno));
        return 0;
    }
    if (strcmp(s->name, "nonblock") == 0) {
        if (check_mode(me, B, O_RDONLY, 0) || check_mode(me, B + 1, O_WRONLY, 1) || check_buffered(B, NB_BYTES)) return -1;
        long n = write_pattern(B + 1, s->seed, NB_BYTES, 1L << 30, 1); /* O_NONBLOCK: stops at EAGAIN */
        if (n < 0) return fail("write: %s", strerror(errno));
        if (NB_BYTES + n < 65536 - 4096 || NB_BYTES + n > 65536)
            return fail("the pipe took %ld bytes before EAGAIN, expected about 65536", NB_BYTES + n);
        return read_expect(B, s->seed, 0, NB_BYTES + n) || expect_idle(B);
    }
    if (strcmp(s->name, "fifo") == 0) {
        if (s->child <= 0) return fail("no child");
        struct stat a, b;
        if (fstat(B, &a) != 0) return fail("fstat fd %d: %s", B, strerror(errno));
        if (stat(s->arg, &b) != 0) return fail("stat %s: %s", s->arg, strerror(errno));
        if (!S_ISFIFO(a.st_mode)) return fail("fd %d is not a FIFO (mode 0%o)", B, a.st_mode);
        if (a.st_ino != b.st_ino || a.st_dev != b.st_dev)
            return fail("fd %d is inode %lu, %s is inode %lu", B, (unsigned long)a.st_ino, s->arg, (unsigned long)b.st_ino);
        char link[PATH_MAX + 1], path[64];
        snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)s->child, B + 1);
        ssize_t l = readlink(path, link, PATH_MAX);
        if (l < 0) return fail("readlink %s: %s", path, strerror(errno));
        link[l] = 0;
        if (strcmp(link, s->arg) != 0) return fail("the child's fd %d is %s, expected %s", B + 1, link, s->arg);
        if (check_mode(me, B, O_RDONLY, 0) || check_mode(s->child, B + 1, O_WRONLY, 0) || check_buffered(B, FIFO_BYTES)) return -1;
        if (read_expect(B, s->seed, 0, FIFO_BYTES) || expect_idle(B)) return -1;
        kill(s->child, SIGKILL);
        int st = reap(s);
        if (st < 0 && why[0]) return -1;
        return expect_eof(B);
    }
    if (strcmp(s->name, "outside") == 0) return 0;
    return fail("unknown scenario");
}

static void quit(void) {
    for (int i = 0; i < nsc; i++)
        if (sc[i].child > 0) {
            kill(sc[i].child, SIGKILL);
            waitpid(sc[i].child, NULL, 0);
            sc[i].child = 0;
        }
    printf("BYE\n");
    fflush(stdout);
    exit(0);
}

int main(int argc, char **argv) {
    close_from(3);
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fprintf(stderr, "usage: pipes SCENARIO...\n");
        return 2;
    }
    for (int i = 1; i < argc && nsc < MAXS; i++) {
        struct scen *s = &sc[nsc];
        const char *colon = strchr(argv[i], ':');
        size_t len = colon ? (size_t)(colon - argv[i]) : strlen(argv[i]);
        if (len >= sizeof s->name) len = sizeof s->name - 1;
        memcpy(s->name, argv[i], len);
        s->name[len] = 0;
        if (colon) snprintf(s->arg, sizeof s->arg, "%s", colon + 1);
        s->base = 10 + 10 * nsc;
        s->seed = nsc * 7 + 1;
        nsc++;
    }
    for (int i = 0; i < nsc; i++) {
        setup(&sc[i]);
        printf("SETUP %s %d %d\n", sc[i].name, sc[i].base, (int)sc[i].child);
    }
    /* let the children reach their blocking calls */
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
    printf("READY %d\n", (int)getpid());

    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        if (strcmp(line, "verify") == 0) {
            int failed = 0;
            for (int i = 0; i < nsc; i++) {
                if (verify(&sc[i]) == 0) {
                    printf("OK %s\n", sc[i].name);
                } else {
                    printf("FAIL %s: %s\n", sc[i].name, why[0] ? why : "?");
                    failed++;
                }
            }
            printf("DONE %d\n", failed);
        } else if (strncmp(line, "send ", 5) == 0) {
            int sent = 0;
            for (int i = 0; i < nsc; i++)
                if (strcmp(sc[i].name, "outside") == 0) {
                    size_t n = strlen(line + 5);
                    line[5 + n] = '\n';
                    sent = write(sc[i].base + 1, line + 5, n + 1) == (ssize_t)(n + 1);
                }
            printf("SENT %d\n", sent);
        } else if (strcmp(line, "reap") == 0) {
            for (int i = 0; i < nsc; i++)
                if (sc[i].child > 0) {
                    pid_t c = sc[i].child;
                    int st = reap(&sc[i]);
                    printf("REAPED %d %d\n", (int)c, st);
                }
            printf("REAPED-ALL\n");
        } else if (strcmp(line, "quit") == 0) {
            quit();
        } else if (line[0]) {
            printf("unknown command '%s'\n", line);
        }
    }
    quit();
    return 0;
}
